//! `[plugins.NAME]`: the component's path, its compute, memory and output limits, what it may
//! fetch, its kv caps, how its instances serve events, and its `config` table.

use super::Compiler;
use crate::config::model::{AllowedHost, Instances, PluginSpec, defaults};
use crate::config::raw::RawPlugin;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// A plugin's outbound HTTP settings.
struct Fetching {
    allowed_hosts: Vec<AllowedHost>,
    fetch_timeout: Duration,
    max_fetches: u32,
    max_fetch_body: u64,
    call_timeout: Duration,
}

/// A plugin's kv caps.
struct KvCaps {
    max_value: u64,
    max_keys: u64,
    max_writes: u64,
    max_pending: u64,
}

impl Compiler<'_> {
    pub(super) fn plugin(&mut self, key: &str, raw: &RawPlugin) -> PluginSpec {
        let name = key.trim_start_matches("plugins.").to_string();
        let rel = self.string(&raw.path, &format!("{key}.path"));
        let base = self.path.parent().unwrap_or(Path::new("."));
        let path = if rel.is_empty() { base.to_path_buf() } else { base.join(&rel) };
        let timeout_ms =
            self.positive(raw.timeout_ms.as_ref(), &format!("{key}.timeout_ms"), defaults::PLUGIN_TIMEOUT_MS, 60_000);
        let (memory, memory_max) = (defaults::PLUGIN_MEMORY_MB, defaults::PLUGIN_MEMORY_MB_MAX);
        let memory_mb = self.positive(raw.memory_mb.as_ref(), &format!("{key}.memory_mb"), memory, memory_max);
        let max_output = self.size(raw.max_output.as_ref(), &format!("{key}.max_output"), defaults::PLUGIN_MAX_OUTPUT);
        let emits = defaults::PLUGIN_MAX_EMITS.into();
        let max_emits = self.positive(raw.max_emits.as_ref(), &format!("{key}.max_emits"), emits, 1_000_000);
        let fetching = self.fetching(key, raw, timeout_ms);
        let kv = self.kv_caps(key, raw);
        PluginSpec {
            name,
            path,
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: memory_mb << 20,
            max_output,
            max_emits: u32::try_from(max_emits).unwrap_or(u32::MAX),
            allowed_hosts: fetching.allowed_hosts,
            fetch_timeout: fetching.fetch_timeout,
            max_fetches: fetching.max_fetches,
            max_fetch_body: fetching.max_fetch_body,
            call_timeout: fetching.call_timeout,
            kv_max_value: kv.max_value,
            kv_max_keys: kv.max_keys,
            kv_max_writes: kv.max_writes,
            kv_max_pending: kv.max_pending,
            instances: self.instances(key, raw),
            config: self.plugin_config(key, raw),
        }
    }

    /// `allowed_hosts`, the fetch limits and `call_timeout_ms` (with a warning when it is
    /// shorter than `timeout_ms`, which it then overrides).
    fn fetching(&mut self, key: &str, raw: &RawPlugin, timeout_ms: u64) -> Fetching {
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .filter_map(|h| {
                let entry = self.string(h, &format!("{key}.allowed_hosts"));
                entry
                    .parse::<AllowedHost>()
                    .map_err(|e| self.error(h, &format!("{key}.allowed_hosts"), e.to_string()))
                    .ok()
            })
            .collect();
        let millis = |compiler: &mut Self, v: Option<&Spanned<u64>>, field: &str, default: u64| {
            Duration::from_millis(compiler.positive(v, &format!("{key}.{field}"), default, 600_000))
        };
        let fetch_timeout = millis(self, raw.fetch_timeout_ms.as_ref(), "fetch_timeout_ms", defaults::FETCH_TIMEOUT_MS);
        let call_timeout = millis(self, raw.call_timeout_ms.as_ref(), "call_timeout_ms", defaults::CALL_TIMEOUT_MS);
        if call_timeout.as_millis() < u128::from(timeout_ms) {
            self.warnings.push(format!(
                "{key}: call_timeout_ms ({} ms) is shorter than timeout_ms ({timeout_ms} ms): a call is stopped \
                 at call_timeout_ms whatever its compute, so timeout_ms past it never applies",
                call_timeout.as_millis()
            ));
        }
        let max_fetches =
            self.positive(raw.max_fetches.as_ref(), &format!("{key}.max_fetches"), defaults::MAX_FETCHES, 10_000);
        let max_fetch_body =
            self.size(raw.max_fetch_body.as_ref(), &format!("{key}.max_fetch_body"), defaults::MAX_FETCH_BODY);
        let max_fetches = u32::try_from(max_fetches).unwrap_or(u32::MAX);
        Fetching { allowed_hosts, fetch_timeout, max_fetches, max_fetch_body, call_timeout }
    }

    /// `kv_max_value`, `kv_max_keys`, `kv_max_writes` and `kv_max_pending`, which must leave
    /// room for one value.
    fn kv_caps(&mut self, key: &str, raw: &RawPlugin) -> KvCaps {
        let max_value = self.size(raw.kv_max_value.as_ref(), &format!("{key}.kv_max_value"), defaults::KV_MAX_VALUE);
        let max_keys =
            self.positive(raw.kv_max_keys.as_ref(), &format!("{key}.kv_max_keys"), defaults::KV_MAX_KEYS, 1 << 40);
        let writes = raw.kv_max_writes.as_ref();
        let max_writes = self.positive(writes, &format!("{key}.kv_max_writes"), defaults::KV_MAX_WRITES, 100_000);
        let max_pending =
            self.size(raw.kv_max_pending.as_ref(), &format!("{key}.kv_max_pending"), defaults::KV_MAX_PENDING);
        if max_pending < max_value
            && let Some(at) = raw.kv_max_pending.as_ref().or(raw.kv_max_value.as_ref())
        {
            let message = format!(
                "kv_max_pending ({max_pending} bytes) is smaller than kv_max_value ({max_value} bytes): one value could never be written"
            );
            self.error(at, &format!("{key}.kv_max_pending"), message);
        }
        KvCaps { max_value, max_keys, max_writes, max_pending }
    }

    /// `instances` (`"fresh"` or `"reuse"`) and `reuse_max`, which only `"reuse"` takes.
    fn instances(&mut self, key: &str, raw: &RawPlugin) -> Instances {
        let reuse_max =
            self.positive(raw.reuse_max.as_ref(), &format!("{key}.reuse_max"), defaults::REUSE_MAX, 1 << 30);
        let instances = match raw.instances.as_ref().map(|i| (i, i.get_ref().as_str())) {
            None | Some((_, "fresh")) => Instances::Fresh,
            Some((_, "reuse")) => Instances::Reuse { max: u32::try_from(reuse_max).unwrap_or(u32::MAX) },
            Some((i, other)) => {
                self.error(i, &format!("{key}.instances"), format!("`{other}` is not fresh or reuse"));
                Instances::Fresh
            }
        };
        if let (Some(r), Instances::Fresh) = (&raw.reuse_max, instances) {
            self.error(r, &format!("{key}.reuse_max"), "reuse_max needs instances = \"reuse\"");
        }
        instances
    }

    /// The `config` table as the plugin reads it: strings as they are (`${VAR}` resolved),
    /// other values as JSON text.
    fn plugin_config(&mut self, key: &str, raw: &RawPlugin) -> Vec<(String, String)> {
        raw.config
            .iter()
            .map(|(k, v)| {
                let text = match v.get_ref() {
                    toml::Value::String(s) => {
                        self.string(&Spanned::new(v.span(), s.clone()), &format!("{key}.config.{k}"))
                    }
                    other => serde_json::to_string(other).unwrap_or_default(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}
