//! The guest side of `wit/handler.wit`: everything a Switchyard plugin author needs.
//!
//! A plugin is a type implementing [`Plugin`] plus one line, [`export_plugin!`]:
//!
//! ```ignore
//! use switchyard_plugin_sdk::prelude::*;
//!
//! struct Hello;
//! impl Plugin for Hello {
//!     fn handle(event: Event) -> Result<Vec<Action>, Error> {
//!         log::info(&format!("got {}", event.scope));
//!         Ok(vec![forward_json(&serde_json::json!({ "scope": event.scope }))])
//!     }
//! }
//! export_plugin!(Hello);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` is a component the
//! host loads directly. Besides `log` and `config`, a plugin has [`kv`] (its own state, committed
//! with the event) and [`http`] (requests to its `allowed_hosts`).
//!
//! What a plugin receives and returns are this crate's own types ([`Event`], [`Action`],
//! [`Forward`], [`Emit`], [`Error`]), built with constructors and `with_…` methods: they are
//! `#[non_exhaustive]`, so a field a later contract adds never breaks a plugin's source (see
//! `types.rs`). The crate carries the contract it targets in `wit/`.
//!
//! This crate owns the bindings and small conveniences over them; it must never grow host-side
//! assumptions (file paths, environment): plugins get only what the WIT world imports.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "switchyard_plugin_sdk::bindings",
        generate_all,
        // wasi:cli@0.2.12 (a dependency of wasi:http) names an unstable interface in one of its
        // worlds; the parser must know the feature to read the package, nothing uses it.
        features: ["clocks-timezone"],
    });
}

pub mod http;
pub mod kv;
mod types;

pub use serde_json;
pub use types::{Action, Emit, Error, Event, Forward};

/// A plugin: what it does with one event. Export it with [`export_plugin!`].
pub trait Plugin {
    fn handle(event: Event) -> Result<Vec<Action>, Error>;
}

/// The contract's `handle`, answered by `P` (what [`export_plugin!`] expands to).
#[doc(hidden)]
pub fn __handle<P: Plugin>(
    event: bindings::switchyard::plugin::types::Event,
) -> Result<Vec<bindings::switchyard::plugin::types::Action>, bindings::switchyard::plugin::types::Error> {
    match P::handle(event.into()) {
        Ok(actions) => Ok(actions.into_iter().map(Into::into).collect()),
        Err(error) => Err(error.into()),
    }
}

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Action, Emit, Error, Event, EventExt, Forward, Plugin, config, drop_event, export_plugin, forward_json, http,
        kv, log, ordered_by,
    };
}

/// Export `$ty` (which implements [`Plugin`]) as this component's `handle`.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ident) => {
        impl $crate::bindings::Guest for $ty {
            fn handle(
                event: $crate::bindings::switchyard::plugin::types::Event,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::bindings::switchyard::plugin::types::Action>,
                $crate::bindings::switchyard::plugin::types::Error,
            > {
                $crate::__handle::<$ty>(event)
            }
        }
        $crate::bindings::__export_handler!($ty);
    };
}

/// Conveniences for reading an [`Event`].
pub trait EventExt {
    /// The body parsed as JSON, or a permanent error saying why it is not.
    fn json(&self) -> Result<serde_json::Value, Error>;
    /// A value captured by a `{name}` segment of the route's pattern.
    fn param(&self, name: &str) -> Option<&str>;
    /// A request header, by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str>;
}

impl EventExt for Event {
    fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Fail(format!("body is not JSON: {e}")))
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Forward `value` as a JSON body to every destination of the route.
pub fn forward_json(value: &serde_json::Value) -> Action {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Forward::new().with_body(body).with_header("content-type", "application/json").into()
}

/// `action` (a forward) with an order key: see [`Action::with_order_key`].
pub fn ordered_by(action: Action, key: impl Into<String>) -> Action {
    action.with_order_key(key)
}

/// Drop the event, saying why (the host logs the reason).
pub fn drop_event(reason: impl Into<String>) -> Action {
    Action::Drop(reason.into())
}

/// The plugin's `config` table from routes.toml.
pub mod config {
    use super::*;
    use crate::bindings::switchyard::plugin::config as host;

    /// A config value: strings as they are, anything else as JSON text.
    pub fn get(key: &str) -> Option<String> {
        host::get(key)
    }

    /// A config value parsed as JSON (strings included, as JSON strings).
    pub fn json(key: &str) -> Option<serde_json::Value> {
        let raw = host::get(key)?;
        Some(serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw)))
    }

    /// Every config entry.
    pub fn all() -> Vec<(String, String)> {
        host::all()
    }
}

/// Logging into the host's span for the current event.
pub mod log {
    use crate::bindings::switchyard::plugin::log::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}
