//! Test helpers shared by the end-to-end tests: see `support`.

pub mod support;
