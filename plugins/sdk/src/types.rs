//! The SDK's own types for what a plugin receives (`Event`) and returns (`Action`, `Forward`,
//! `Emit`, `Error`), and their conversions to and from the contract's generated bindings.
//!
//! They mirror the WIT records field for field, but they are `#[non_exhaustive]`: a plugin
//! builds them with constructors and `with_…` methods, never with a struct literal. So when a
//! later contract adds a field (0.3.0 added `forward.order-key`), the SDK adds a method and
//! every plugin written against it still compiles. This is the SDK's compatibility rule: within
//! a major version, its public types never break a plugin's source.

use crate::bindings::switchyard::plugin::types as wit;

/// A webhook as the plugin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Event {
    /// The gateway's id for it (`evt_…`), the same on every retry.
    pub id: String,
    /// The `[sources.NAME]` it arrived at.
    pub source: String,
    /// Its event type, e.g. `store/order/created`.
    pub scope: String,
    /// The route that called the plugin.
    pub route: String,
    /// What the route's pattern captured (`{channel_id}` → `("channel_id", "1")`).
    pub params: Vec<(String, String)>,
    /// The request's headers (names lower-case).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the gateway accepted it, in Unix milliseconds.
    pub received_at_ms: u64,
}

impl Event {
    /// An event of `scope` with `body`, the rest empty: for a plugin's own unit tests.
    pub fn new(scope: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self { scope: scope.into(), body: body.into(), ..Self::default() }
    }

    /// The same event with a header added.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same event with a route parameter added.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
}

/// What the plugin asks the gateway to do with the event; a call returns any number of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Deliver a request to the route's destinations (or one of them).
    Forward(Forward),
    /// Route a new event, as if it had arrived at the same source.
    Emit(Emit),
    /// Do nothing more with the event, saying why.
    Drop(String),
}

impl Action {
    /// A forward with an order key: the route's deliveries to one destination that share `key`
    /// go out one at a time, in the order their events were accepted. Other actions are
    /// returned as they are.
    pub fn with_order_key(self, key: impl Into<String>) -> Self {
        match self {
            Action::Forward(forward) => Action::Forward(forward.with_order_key(key)),
            other => other,
        }
    }
}

/// A delivery to make: [`Forward::new`], then `with_…` for what differs from the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Forward {
    /// One of the route's destinations; `None` sends to all of them.
    pub destination: Option<String>,
    pub headers: Vec<(String, String)>,
    /// `None` sends the event's own body.
    pub body: Option<Vec<u8>>,
    /// See [`Action::with_order_key`].
    pub order_key: Option<String>,
}

impl Forward {
    /// The event's own body, to every destination of the route.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Only to `destination` (one of the route's `to`).
    pub fn with_destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    pub fn with_order_key(mut self, key: impl Into<String>) -> Self {
        self.order_key = Some(key.into());
        self
    }
}

impl From<Forward> for Action {
    fn from(forward: Forward) -> Self {
        Action::Forward(forward)
    }
}

/// A new event to route.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Emit {
    pub scope: String,
    pub body: Vec<u8>,
}

impl Emit {
    pub fn new(scope: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self { scope: scope.into(), body: body.into() }
    }
}

impl From<Emit> for Action {
    fn from(emit: Emit) -> Self {
        Action::Emit(emit)
    }
}

/// Why the plugin produced no actions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The event can never be handled: it goes to the dead-letter queue.
    Fail(String),
    /// Not now (an upstream is down): the gateway calls the plugin again later.
    RetryLater(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Fail(why) => write!(f, "fail: {why}"),
            Error::RetryLater(why) => write!(f, "retry later: {why}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<wit::Event> for Event {
    fn from(e: wit::Event) -> Self {
        Self {
            id: e.id,
            source: e.source,
            scope: e.scope,
            route: e.route,
            params: e.params,
            headers: e.headers,
            body: e.body,
            received_at_ms: e.received_at_ms,
        }
    }
}

impl From<Action> for wit::Action {
    fn from(action: Action) -> Self {
        match action {
            Action::Forward(f) => wit::Action::Forward(wit::Forward {
                destination: f.destination,
                headers: f.headers,
                body: f.body,
                order_key: f.order_key,
            }),
            Action::Emit(e) => wit::Action::Emit(wit::Emit { scope: e.scope, body: e.body }),
            Action::Drop(reason) => wit::Action::Drop(reason),
        }
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Fail(why) => wit::Error::Fail(why),
            Error::RetryLater(why) => wit::Error::RetryLater(why),
        }
    }
}
