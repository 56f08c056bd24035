//! Paths of the plugin components built by this crate's build script, for tests, benchmarks
//! and the shipped `routes.toml`, and the example components' bytes, which `switchyard init`
//! writes out. It owns no logic; a gateway serving a user's own plugins never reads it.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
