//! Names of broker destinations — NATS subjects, AMQP routing keys, Redis stream keys, MQTT
//! topics — written as templates such as `webhooks.{source}.{scope}`.
//!
//! A template is parsed and checked against its broker's naming rules when the config loads;
//! it is rendered for each attempt from the names of the delivery's event (`{source}`,
//! `{scope}` with its segments joined by the broker's separator, `{route}` and the route's
//! `{params}`). A rendered name is checked again, since a scope is data from a request. This
//! file only builds and checks names: it never connects or sends.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest name any broker here is given, in bytes (AMQP's short strings hold 255).
const MAX_NAME: usize = 255;

/// The kinds of broker a destination's URL scheme selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Broker {
    Nats,
    Amqp,
    Redis,
    Mqtt,
}

impl Broker {
    /// The broker for a URL scheme; `None` for HTTP(S) and anything unknown.
    pub fn for_scheme(scheme: &str) -> Option<Self> {
        match scheme {
            "nats" => Some(Self::Nats),
            "amqp" => Some(Self::Amqp),
            "redis" => Some(Self::Redis),
            "mqtt" => Some(Self::Mqtt),
            _ => None,
        }
    }

    /// What the broker calls the name a template renders.
    pub fn name_kind(self) -> &'static str {
        match self {
            Self::Nats => "NATS subject",
            Self::Amqp => "AMQP routing key",
            Self::Redis => "Redis stream key",
            Self::Mqtt => "MQTT topic",
        }
    }

    /// What separates the levels of a name, by the broker's convention.
    pub fn separator(self) -> char {
        match self {
            Self::Nats | Self::Amqp => '.',
            Self::Redis => ':',
            Self::Mqtt => '/',
        }
    }

    /// Checks a whole name against the broker's rules for a name one publishes to.
    pub fn check(self, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("is empty".into());
        }
        if name.len() > MAX_NAME {
            return Err(format!("is {} bytes, longer than {MAX_NAME}", name.len()));
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(format!("holds the control character {c:?}"));
        }
        match self {
            Self::Nats => {
                if let Some(c) = name.chars().find(|c| c.is_whitespace() || matches!(c, '*' | '>')) {
                    return Err(format!("holds {c:?}, which a subject one publishes to cannot hold"));
                }
                if name.split('.').any(str::is_empty) {
                    return Err("has an empty token (a leading, trailing or doubled `.`)".into());
                }
            }
            Self::Mqtt => {
                if let Some(c) = name.chars().find(|c| matches!(c, '+' | '#')) {
                    return Err(format!("holds the wildcard {c:?}, which a topic one publishes to cannot hold"));
                }
                if name.starts_with('$') {
                    return Err("starts with `$`, which brokers reserve for themselves".into());
                }
            }
            Self::Amqp | Self::Redis => {}
        }
        Ok(())
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Source,
    Scope,
    Route,
    /// A parameter of the route's pattern, such as `channel_id` in `store/channel/{channel_id}`.
    Param(String),
}

/// A parsed name template for one broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    broker: Broker,
    text: String,
    pieces: Vec<Piece>,
}

/// What a template is rendered from: the delivery's event and route. Stored with a broker
/// delivery, so each attempt renders the destination's template as the config has it then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameVars {
    pub source: String,
    pub scope: String,
    pub route: String,
    #[serde(default)]
    pub params: Vec<(String, String)>,
}

/// Why a template cannot give a name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{0}`: a `{{` has no closing `}}`")]
    Unclosed(String),
    #[error("`{0}`: `{{}}` names nothing (use {{source}}, {{scope}}, {{route}} or a parameter of the route)")]
    Empty(String),
    #[error("`{text}`: `{{{name}}}` is not a name a template can use (letters, digits and `_`)")]
    BadName { text: String, name: String },
    #[error("the {kind} `{name}` {why}")]
    Invalid { kind: &'static str, name: String, why: String },
    #[error("`{text}` cannot make a {kind}: {why}")]
    Template { kind: &'static str, text: String, why: String },
    #[error("the route has no parameter `{0}` to fill `{{{0}}}`")]
    MissingParam(String),
}

impl NameTemplate {
    /// Parses `text` and checks it with every placeholder filled by a one-letter sample, so a
    /// literal part the broker refuses is caught at load.
    pub fn parse(broker: Broker, text: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
            let name = &after[..close];
            pieces.push(match name {
                "" => return Err(TemplateError::Empty(text.to_string())),
                "source" => Piece::Source,
                "scope" => Piece::Scope,
                "route" => Piece::Route,
                _ if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => Piece::Param(name.to_string()),
                _ => return Err(TemplateError::BadName { text: text.to_string(), name: name.to_string() }),
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        let template = Self { broker, text: text.to_string(), pieces };
        let sample = NameVars { source: "s".into(), scope: "s".into(), route: "r".into(), params: Vec::new() };
        match template.render_with(&sample, |_| Some("p")) {
            Err(TemplateError::Invalid { kind, why, .. }) => {
                Err(TemplateError::Template { kind, text: text.to_string(), why })
            }
            Err(e) => Err(e),
            Ok(_) => Ok(template),
        }
    }

    /// Whether the template uses the event's names (`{source}`, `{scope}`, parameters).
    pub fn uses_event(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Source | Piece::Scope | Piece::Param(_)))
    }

    /// The route parameters the template uses.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Param(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The name for one delivery, checked against the broker's rules.
    pub fn render(&self, vars: &NameVars) -> Result<String, TemplateError> {
        self.render_with(vars, |name| vars.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()))
    }

    fn render_with<'a>(
        &self,
        vars: &'a NameVars,
        param: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<String, TemplateError> {
        let separator = self.broker.separator();
        let mut name = String::with_capacity(self.text.len() + vars.scope.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => name.push_str(text),
                Piece::Source => name.push_str(&vars.source),
                Piece::Route => name.push_str(&vars.route),
                Piece::Scope => {
                    for (i, segment) in crate::scope::split(&vars.scope).enumerate() {
                        if i > 0 {
                            name.push(separator);
                        }
                        name.push_str(segment);
                    }
                }
                Piece::Param(p) => name.push_str(param(p).ok_or_else(|| TemplateError::MissingParam(p.clone()))?),
            }
        }
        let kind = self.broker.name_kind();
        self.broker.check(&name).map_err(|why| TemplateError::Invalid { kind, name: name.clone(), why })?;
        Ok(name)
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(scope: &str) -> NameVars {
        NameVars {
            source: "bigcommerce".into(),
            scope: scope.into(),
            route: "orders".into(),
            params: vec![("channel_id".into(), "7".into())],
        }
    }

    fn render(broker: Broker, template: &str, scope: &str) -> Result<String, String> {
        let t = NameTemplate::parse(broker, template).map_err(|e| e.to_string())?;
        t.render(&vars(scope)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_scope_takes_the_brokers_separator() {
        let scope = "store/order/created";
        assert_eq!(
            render(Broker::Nats, "webhooks.{source}.{scope}", scope).as_deref(),
            Ok("webhooks.bigcommerce.store.order.created")
        );
        assert_eq!(render(Broker::Mqtt, "hooks/{scope}", "order.created").as_deref(), Ok("hooks/order/created"));
        assert_eq!(
            render(Broker::Redis, "hooks:{route}:{scope}", scope).as_deref(),
            Ok("hooks:orders:store:order:created")
        );
        assert_eq!(render(Broker::Amqp, "{scope}.{channel_id}", scope).as_deref(), Ok("store.order.created.7"));
    }

    #[test]
    fn a_template_the_broker_cannot_take_is_refused_at_load() {
        for (broker, text) in [
            (Broker::Nats, "hooks..{scope}"),
            (Broker::Nats, "hooks.>"),
            (Broker::Nats, "hooks {scope}"),
            (Broker::Mqtt, "hooks/#"),
            (Broker::Mqtt, "$SYS/{scope}"),
            (Broker::Redis, ""),
            (Broker::Amqp, "{scope"),
            (Broker::Amqp, "{}"),
            (Broker::Amqp, "{a-b}"),
        ] {
            assert!(NameTemplate::parse(broker, text).is_err(), "{broker:?} `{text}` was accepted");
        }
    }

    #[test]
    fn a_scope_the_broker_cannot_take_fails_that_delivery_with_a_reason() {
        let err = render(Broker::Nats, "hooks.{scope}", "order/*/created").err().unwrap_or_default();
        assert!(err.contains("NATS subject `hooks.order.*.created`"), "{err}");
        let err = render(Broker::Mqtt, "hooks/{scope}", "order/#").err().unwrap_or_default();
        assert!(err.contains("wildcard"), "{err}");
    }

    #[test]
    fn params_are_listed_and_a_missing_one_is_an_error() {
        let t = NameTemplate::parse(Broker::Nats, "a.{shop}.{scope}").unwrap();
        assert_eq!(t.params().collect::<Vec<_>>(), ["shop"]);
        assert_eq!(t.render(&vars("x")), Err(TemplateError::MissingParam("shop".into())));
        assert!(NameTemplate::parse(Broker::Nats, "fixed.name").is_ok());
    }
}
