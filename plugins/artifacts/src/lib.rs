//! Paths of the plugin components built by this crate's build script, for tests, benchmarks
//! and the shipped `routes.toml`. It owns no logic; it must never be needed at run time by a
//! gateway serving a user's own plugins.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
