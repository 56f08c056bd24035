//! Reaching a serving gateway's admin listener from the command line (`tail`, `health`): its
//! base URL (`--admin-url`, else `server.admin` from the config), an HTTP client with the
//! gateway's TLS roots, and the admin token. Never talks to the store.

use crate::config::Config;
use anyhow::Context;

/// A serving gateway's admin listener.
pub(crate) struct AdminHttp {
    /// `http://127.0.0.1:9090`, with no trailing slash.
    pub base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl AdminHttp {
    /// The listener `url` names, else the one `config` serves; `doing` names the command for
    /// the error when neither does.
    pub fn new(config: Option<&Config>, url: Option<&str>, doing: &str) -> anyhow::Result<Self> {
        let base = match (url, config) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(config)) => base_of(config, doing)?,
            (None, None) => anyhow::bail!("give the admin listener's URL with --admin-url"),
        };
        let tls = crate::tls::fetch_client_config().context("cannot set up TLS")?;
        let client =
            reqwest::Client::builder().use_preconfigured_tls(tls).build().context("cannot build an HTTP client")?;
        let token = config.and_then(|c| c.server.admin_token.clone());
        Ok(Self { base, client, token })
    }

    /// A GET of `path` (with the query `url` gets), carrying the token when the config has one.
    pub fn get(&self, url: reqwest::Url) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `base` + `path`, parsed.
    pub fn url(&self, path: &str) -> anyhow::Result<reqwest::Url> {
        reqwest::Url::parse(&format!("{}{path}", self.base)).with_context(|| format!("`{}` is not a URL", self.base))
    }
}

/// `http://{server.admin}`, with an unspecified address read as loopback.
fn base_of(config: &Config, doing: &str) -> anyhow::Result<String> {
    let Some(addr) = config.server.admin.as_deref().filter(|a| !a.is_empty()) else {
        anyhow::bail!("this config has no admin listener (`server.admin`), which `{doing}` reads from");
    };
    let host = addr.replacen("0.0.0.0", "127.0.0.1", 1).replacen("[::]", "[::1]", 1);
    let scheme = if config.server.admin_tls.is_some() { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}
