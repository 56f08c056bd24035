//! The versions of the plugin contract the host runs side by side: which bindings a component
//! gets (`Pre`), and the conversions between a version's types and the newest's, which the
//! rest of the host speaks. Adding a contract version adds a variant here and its converters.

use super::bindings::{v1, v2};
use super::host::HostState;
use v2::switchyard::plugin::types as t2;

/// A component linked and pre-instantiated for the version it was built against.
pub(super) enum Pre {
    V1(v1::HandlerPre<HostState>),
    V2(v2::HandlerPre<HostState>),
}

impl Pre {
    /// Bindings for `instance_pre`, by the contract version its imports name (a component
    /// that imports nothing of the contract gets the newest).
    pub(super) fn new(instance_pre: wasmtime::component::InstancePre<HostState>) -> wasmtime::Result<Self> {
        let engine = instance_pre.engine().clone();
        let v1 = instance_pre
            .component()
            .component_type()
            .imports(&engine)
            .any(|(name, _)| name.starts_with("switchyard:plugin/") && name.ends_with("@0.1.0"));
        if v1 { v1::HandlerPre::new(instance_pre).map(Pre::V1) } else { v2::HandlerPre::new(instance_pre).map(Pre::V2) }
    }

    /// Instantiates the component into `store`.
    pub(super) async fn instantiate(&self, store: &mut wasmtime::Store<HostState>) -> wasmtime::Result<Bound> {
        Ok(match self {
            Pre::V1(pre) => Bound::V1(pre.instantiate_async(store).await?),
            Pre::V2(pre) => Bound::V2(pre.instantiate_async(store).await?),
        })
    }

    /// The contract version, for the admin API.
    pub(super) fn version(&self) -> &'static str {
        match self {
            Pre::V1(_) => "0.1.0",
            Pre::V2(_) => "0.2.0",
        }
    }
}

/// An instance, as the bindings of its version see it.
pub(super) enum Bound {
    V1(v1::Handler),
    V2(v2::Handler),
}

impl Bound {
    /// Calls `handle(event)`.
    pub(super) async fn handle(
        &self,
        store: &mut wasmtime::Store<HostState>,
        event: &t2::Event,
    ) -> wasmtime::Result<Result<Vec<t2::Action>, t2::Error>> {
        match self {
            Bound::V2(instance) => instance.call_handle(store, event).await,
            Bound::V1(instance) => {
                let result = instance.call_handle(store, &v1_event(event)).await?;
                Ok(result.map(|actions| actions.into_iter().map(from_v1_action).collect()).map_err(from_v1_error))
            }
        }
    }
}

fn v1_event(e: &t2::Event) -> v1::switchyard::plugin::types::Event {
    v1::switchyard::plugin::types::Event {
        id: e.id.clone(),
        source: e.source.clone(),
        scope: e.scope.clone(),
        route: e.route.clone(),
        params: e.params.clone(),
        headers: e.headers.clone(),
        body: e.body.clone(),
        received_at_ms: e.received_at_ms,
    }
}

fn from_v1_action(a: v1::switchyard::plugin::types::Action) -> t2::Action {
    use v1::switchyard::plugin::types::Action as A1;
    match a {
        A1::Forward(f) => {
            t2::Action::Forward(t2::Forward { destination: f.destination, body: f.body, headers: f.headers })
        }
        A1::Emit(e) => t2::Action::Emit(t2::Emit { scope: e.scope, body: e.body }),
        A1::Drop(reason) => t2::Action::Drop(reason),
    }
}

fn from_v1_error(e: v1::switchyard::plugin::types::Error) -> t2::Error {
    use v1::switchyard::plugin::types::Error as E1;
    match e {
        E1::RetryLater(m) => t2::Error::RetryLater(m),
        E1::Fail(m) => t2::Error::Fail(m),
    }
}
