//! A plugin that imports an interface the host does not offer, for the host's reload tests:
//! it must never ship in a routes.toml.
//!
//! Its world is the `handler` world plus `switchyard:bad-import/secrets`, and `handle` calls
//! that import, so the component really needs it. The host must refuse it when it builds a
//! snapshot (the `InstancePre` link check), never fail per event.

wit_bindgen::generate!({
    inline: r#"
        package switchyard:bad-import;

        interface secrets {
            get: func(name: string) -> option<string>;
        }

        world bad-import {
            include switchyard:plugin/handler@0.3.0;
            import secrets;
        }
    "#,
    path: "../../sdk/wit",
    world: "switchyard:bad-import/bad-import",
    generate_all,
    features: ["clocks-timezone"],
});

use switchyard::plugin::types::Forward;

struct BadImport;

impl Guest for BadImport {
    fn handle(event: Event) -> Result<Vec<Action>, Error> {
        let secret = switchyard::bad_import::secrets::get("token").unwrap_or_default();
        let headers = vec![("x-secret".to_string(), secret)];
        Ok(vec![Action::Forward(Forward { destination: None, body: Some(event.body), headers, order_key: None })])
    }
}

export!(BadImport);
