//! Test helpers shared by the end-to-end tests: see `support`.

#![allow(clippy::unwrap_used)] // a test that unwraps says what it expects (rust-clippy#13981)

pub mod support;
