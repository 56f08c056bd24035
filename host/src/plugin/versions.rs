//! The versions of the plugin contract the host runs side by side: which bindings a component
//! gets (`Pre`), and the conversions between a version's types and the newest's, which the
//! rest of the host speaks. Adding a contract version adds a variant here and its converters.

use super::bindings::{v1, v2, v3};
use super::host::HostState;
use v3::switchyard::plugin::types as t3;

/// A component linked and pre-instantiated for the version it was built against.
pub(super) enum Pre {
    V1(v1::HandlerPre<HostState>),
    V2(v2::HandlerPre<HostState>),
    V3(v3::HandlerPre<HostState>),
}

impl Pre {
    /// Bindings for `instance_pre`, by the contract version its imports name (a component
    /// that imports nothing of the contract gets the newest).
    pub(super) fn new(instance_pre: wasmtime::component::InstancePre<HostState>) -> wasmtime::Result<Self> {
        let engine = instance_pre.engine().clone();
        let imports = |version: &str| {
            instance_pre
                .component()
                .component_type()
                .imports(&engine)
                .any(|(name, _)| name.starts_with("switchyard:plugin/") && name.ends_with(version))
        };
        if imports("@0.1.0") {
            v1::HandlerPre::new(instance_pre).map(Pre::V1)
        } else if imports("@0.2.0") {
            v2::HandlerPre::new(instance_pre).map(Pre::V2)
        } else {
            v3::HandlerPre::new(instance_pre).map(Pre::V3)
        }
    }

    /// Instantiates the component into `store`.
    pub(super) async fn instantiate(&self, store: &mut wasmtime::Store<HostState>) -> wasmtime::Result<Bound> {
        Ok(match self {
            Pre::V1(pre) => Bound::V1(pre.instantiate_async(store).await?),
            Pre::V2(pre) => Bound::V2(pre.instantiate_async(store).await?),
            Pre::V3(pre) => Bound::V3(pre.instantiate_async(store).await?),
        })
    }

    /// The contract version, for the admin API.
    pub(super) fn version(&self) -> &'static str {
        match self {
            Pre::V1(_) => "0.1.0",
            Pre::V2(_) => "0.2.0",
            Pre::V3(_) => "0.3.0",
        }
    }
}

/// An instance, as the bindings of its version see it.
pub(super) enum Bound {
    V1(v1::Handler),
    V2(v2::Handler),
    V3(v3::Handler),
}

impl Bound {
    /// Calls `handle(event)`.
    pub(super) async fn handle(
        &self,
        store: &mut wasmtime::Store<HostState>,
        event: &t3::Event,
    ) -> wasmtime::Result<Result<Vec<t3::Action>, t3::Error>> {
        match self {
            Bound::V3(instance) => instance.call_handle(store, event).await,
            Bound::V2(instance) => {
                let result = instance.call_handle(store, &v2_event(event)).await?;
                Ok(result.map(|actions| actions.into_iter().map(from_v2_action).collect()).map_err(from_v2_error))
            }
            Bound::V1(instance) => {
                let result = instance.call_handle(store, &v1_event(event)).await?;
                Ok(result.map(|actions| actions.into_iter().map(from_v1_action).collect()).map_err(from_v1_error))
            }
        }
    }
}

/// Conversions for an older version `$v`: its event, action and error records have the same
/// fields as 0.3.0's except `forward.order-key`, which it never sets.
macro_rules! older {
    ($v:ident, $event:ident, $action:ident, $error:ident) => {
        fn $event(e: &t3::Event) -> $v::switchyard::plugin::types::Event {
            $v::switchyard::plugin::types::Event {
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

        fn $action(a: $v::switchyard::plugin::types::Action) -> t3::Action {
            use $v::switchyard::plugin::types::Action as A;
            match a {
                A::Forward(f) => t3::Action::Forward(t3::Forward {
                    destination: f.destination,
                    body: f.body,
                    headers: f.headers,
                    order_key: None,
                }),
                A::Emit(e) => t3::Action::Emit(t3::Emit { scope: e.scope, body: e.body }),
                A::Drop(reason) => t3::Action::Drop(reason),
            }
        }

        fn $error(e: $v::switchyard::plugin::types::Error) -> t3::Error {
            use $v::switchyard::plugin::types::Error as E;
            match e {
                E::RetryLater(m) => t3::Error::RetryLater(m),
                E::Fail(m) => t3::Error::Fail(m),
            }
        }
    };
}

older!(v1, v1_event, from_v1_action, from_v1_error);
older!(v2, v2_event, from_v2_action, from_v2_error);
