//! What a broker destination publishes to: the fields its URL's scheme takes (a NATS subject,
//! an AMQP exchange and routing key, a Redis stream and its length, an MQTT topic and QoS),
//! each name a template checked here, and whether a route can fill a destination's template.

use super::Compiler;
use crate::config::model::{Broker, NameTemplate, NameVars, Target};
use crate::config::raw::{RawDestination, RawRoute};
use crate::scope::{Pattern, Segment};
use toml::Spanned;

impl Compiler<'_> {
    /// What `url`'s scheme publishes to, with the fields that kind needs; a field of another
    /// kind is an error rather than ignored.
    pub(super) fn target(&mut self, key: &str, url: &url::Url, raw: &RawDestination) -> Target {
        let broker = Broker::for_scheme(url.scheme());
        self.foreign_broker_fields(key, url, raw, broker);
        let Some(broker) = broker else { return Target::Http };
        let (field, value) = match broker {
            Broker::Nats => ("subject", raw.subject.as_ref()),
            Broker::Amqp => ("routing_key", raw.routing_key.as_ref()),
            Broker::Redis => ("stream", raw.stream.as_ref()),
            Broker::Mqtt => ("topic", raw.topic.as_ref()),
        };
        let Some(value) = value else {
            let message = format!(
                "this {}:// destination needs `{field}`, the {} it publishes to",
                url.scheme(),
                broker.name_kind()
            );
            self.error(&raw.url, &format!("{key}.{field}"), message);
            return Target::Http;
        };
        let text = self.string(value, &format!("{key}.{field}"));
        let template = match NameTemplate::parse(broker, &text) {
            Ok(template) => template,
            Err(e) => {
                self.error(value, &format!("{key}.{field}"), e.to_string());
                return Target::Http;
            }
        };
        match broker {
            Broker::Nats => Target::Nats { subject: template },
            Broker::Amqp => Target::Amqp { exchange: self.exchange(key, raw), routing_key: template },
            Broker::Redis => {
                let maxlen = raw.maxlen.as_ref().map(|v| *v.get_ref());
                if let (Some(0), Some(spanned)) = (maxlen, &raw.maxlen) {
                    let message = "must be at least 1 (leave it out to keep every entry)";
                    self.error(spanned, &format!("{key}.maxlen"), message);
                }
                Target::Redis { stream: template, maxlen }
            }
            Broker::Mqtt => {
                if let Some(qos) = &raw.qos
                    && *qos.get_ref() != 1
                {
                    let message = "only qos = 1 is offered: QoS 0 has no acknowledgement, and QoS 1 with the `webhook-id` already lets receivers drop repeats";
                    self.error(qos, &format!("{key}.qos"), message);
                }
                Target::Mqtt { topic: template }
            }
        }
    }

    /// Refuses the fields of a kind other than `broker` (`None`: HTTP).
    fn foreign_broker_fields(&mut self, key: &str, url: &url::Url, raw: &RawDestination, broker: Option<Broker>) {
        let fields = [
            ("subject", raw.subject.as_ref(), Some(Broker::Nats)),
            ("exchange", raw.exchange.as_ref(), Some(Broker::Amqp)),
            ("routing_key", raw.routing_key.as_ref(), Some(Broker::Amqp)),
            ("stream", raw.stream.as_ref(), Some(Broker::Redis)),
            ("topic", raw.topic.as_ref(), Some(Broker::Mqtt)),
        ];
        for (field, value, kind) in fields {
            if let Some(value) = value
                && kind != broker
            {
                let message =
                    format!("`{field}` is for {}:// destinations, and this one is {}://", scheme(kind), url.scheme());
                self.error(value, &format!("{key}.{field}"), message);
            }
        }
        if let Some(maxlen) = &raw.maxlen
            && broker != Some(Broker::Redis)
        {
            self.error(maxlen, &format!("{key}.maxlen"), "`maxlen` is for redis:// destinations");
        }
        if let Some(qos) = &raw.qos
            && broker != Some(Broker::Mqtt)
        {
            self.error(qos, &format!("{key}.qos"), "`qos` is for mqtt:// destinations");
        }
    }

    /// An AMQP destination's `exchange` (the default exchange when absent).
    fn exchange(&mut self, key: &str, raw: &RawDestination) -> String {
        let Some(spanned) = raw.exchange.as_ref() else { return String::new() };
        let name = self.string(spanned, &format!("{key}.exchange"));
        if name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) {
            let message = format!("`{name}` is not an AMQP exchange name (letters, digits, `-_.:`, at most 255)");
            self.error(spanned, &format!("{key}.exchange"), message);
        }
        name
    }

    /// Checks that a broker destination's name template can be filled for this route: every
    /// parameter it uses is in each of the route's patterns, and with the route's own name (and
    /// source, when the route names one) the name is one the broker takes.
    pub(super) fn route_name(
        &mut self,
        template: &NameTemplate,
        raw: &RawRoute,
        index: usize,
        patterns: &[Pattern],
        to: &Spanned<String>,
        key: &str,
    ) {
        for param in template.params() {
            let missing = patterns.iter().find(|p| !p.segments().contains(&Segment::Param(param.to_string())));
            if let Some(pattern) = missing {
                let message = format!(
                    "destination `{}` names its messages with `{{{param}}}`, which pattern `{}` does not capture",
                    to.get_ref(),
                    pattern.as_str()
                );
                self.error(to, key, message);
                return;
            }
        }
        let vars = NameVars {
            source: raw.source.as_ref().map_or_else(|| "s".to_string(), |s| s.get_ref().clone()),
            scope: "s".into(),
            route: raw.name.as_ref().map_or_else(|| format!("route {index}"), |n| n.get_ref().clone()),
            params: template.params().map(|p| (p.to_string(), "p".to_string())).collect(),
        };
        if let Err(e) = template.render(&vars) {
            self.error(to, key, format!("destination `{}` cannot name messages of this route: {e}", to.get_ref()));
        }
    }
}

/// The scheme of a broker kind, for messages.
fn scheme(broker: Option<Broker>) -> &'static str {
    match broker {
        None => "http",
        Some(Broker::Nats) => "nats",
        Some(Broker::Amqp) => "amqp",
        Some(Broker::Redis) => "redis",
        Some(Broker::Mqtt) => "mqtt",
    }
}
