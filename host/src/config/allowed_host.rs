//! `allowed_hosts` entries: which URLs a plugin may fetch. Parsed from routes.toml
//! (`scheme://host[:port]`, `*.example.com` for subdomains, `:*` for any port) and matched
//! against each request's scheme, host and port. Pure data and checks: no resolving, no I/O.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One entry of a plugin's `allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    pub https: bool,
    pub host: HostRule,
    pub port: PortRule,
}

/// Which hosts an entry covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRule {
    /// Exactly this name (lower-case, no trailing dot).
    Name(String),
    /// Any name below this domain (`*.example.com` covers `api.example.com`, not `example.com`).
    Subdomains(String),
    /// Exactly this address. Naming an address literally is also what allows a request to it
    /// when it is internal (loopback, private, link-local).
    Ip(IpAddr),
}

/// Which ports an entry covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRule {
    /// The scheme's own (443 for https, 80 for http).
    Default,
    Exact(u16),
    /// `:*`
    Any,
}

/// Why an entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{entry}` is not an allowed host: {why} (write scheme://host[:port], like https://api.example.com, https://*.example.com or http://127.0.0.1:*)"
)]
pub struct AllowedHostError {
    entry: String,
    why: &'static str,
}

/// Refuses `0.0.0.0` and `::`: a connection to them reaches this machine, whatever it listens on.
fn specified(ip: IpAddr) -> Result<IpAddr, &'static str> {
    if ip.to_canonical().is_unspecified() {
        return Err("an unspecified address (0.0.0.0, ::) reaches this machine itself; name the address to reach");
    }
    Ok(ip)
}

impl FromStr for AllowedHost {
    type Err = AllowedHostError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let error = |why| AllowedHostError { entry: entry.to_string(), why };
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| error("it has no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(error("the scheme must be http or https")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(error("it must be a scheme, a host and a port only: no path, query or user"));
        }
        let (host, port) = split_port(rest).ok_or_else(|| error("the port must be a number or *"))?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host = if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            HostRule::Ip(specified(ip.parse().map_err(|_| error("the bracketed address is not IPv6"))?).map_err(error)?)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostRule::Ip(specified(ip).map_err(error)?)
        } else if let Some(domain) = host.strip_prefix("*.") {
            check_name(domain).ok_or_else(|| error("the domain after *. is not a host name"))?;
            HostRule::Subdomains(domain.to_string())
        } else {
            check_name(&host).ok_or_else(|| error("the host is not a host name or an IP address"))?;
            HostRule::Name(host)
        };
        Ok(Self { https, host, port })
    }
}

/// `host` and its port rule; `None` when the port is neither a number nor `*`.
fn split_port(authority: &str) -> Option<(&str, PortRule)> {
    let colon = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => at,
        _ => return Some((authority, PortRule::Default)),
    };
    let (host, port) = (&authority[..colon], &authority[colon + 1..]);
    match port {
        "*" => Some((host, PortRule::Any)),
        p => p.parse().ok().map(|n| (host, PortRule::Exact(n))),
    }
}

fn check_name(name: &str) -> Option<()> {
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (!name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)).then_some(())
}

impl AllowedHost {
    /// Whether a request to `host` (as in the URL, lower-case, IPv6 without brackets) on `port`
    /// over https (or http) is covered by this entry.
    pub fn covers(&self, https: bool, host: &str, port: u16) -> bool {
        let default = if https { 443 } else { 80 };
        let port_ok = match self.port {
            PortRule::Default => port == default,
            PortRule::Exact(p) => port == p,
            PortRule::Any => true,
        };
        let host = host.trim_end_matches('.');
        let host_ok = match &self.host {
            HostRule::Name(name) => host.eq_ignore_ascii_case(name),
            HostRule::Subdomains(domain) => {
                host.len() > domain.len() + 1
                    && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            HostRule::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        };
        self.https == https && port_ok && host_ok
    }

    /// Whether this entry names `ip` literally, for a request on `port` over https (or http):
    /// what allows a connection to an internal address.
    pub fn names_ip(&self, https: bool, ip: IpAddr, port: u16) -> bool {
        matches!(self.host, HostRule::Ip(allowed) if allowed == ip) && self.covers(https, &ip.to_string(), port)
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.https { "https://" } else { "http://" })?;
        match &self.host {
            HostRule::Name(n) => f.write_str(n)?,
            HostRule::Subdomains(d) => write!(f, "*.{d}")?,
            HostRule::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostRule::Ip(ip) => write!(f, "{ip}")?,
        }
        match self.port {
            PortRule::Default => Ok(()),
            PortRule::Exact(p) => write!(f, ":{p}"),
            PortRule::Any => f.write_str(":*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowedHost {
        s.parse().unwrap()
    }

    #[test]
    fn an_entry_covers_its_scheme_host_and_port_only() {
        let api = entry("https://api.bigcommerce.com");
        assert!(api.covers(true, "api.bigcommerce.com", 443));
        assert!(api.covers(true, "API.BigCommerce.com.", 443));
        assert!(!api.covers(false, "api.bigcommerce.com", 80), "http is another entry");
        assert!(!api.covers(true, "api.bigcommerce.com", 8443));
        assert!(!api.covers(true, "evil-api.bigcommerce.com", 443));
        assert!(entry("http://127.0.0.1:8080").covers(false, "127.0.0.1", 8080));
        assert!(entry("http://localhost:*").covers(false, "localhost", 1234));
    }

    #[test]
    fn a_wildcard_covers_subdomains_and_not_the_domain_or_lookalikes() {
        let any = entry("https://*.example.com");
        assert!(any.covers(true, "a.example.com", 443));
        assert!(any.covers(true, "a.b.example.com", 443));
        assert!(!any.covers(true, "example.com", 443));
        assert!(!any.covers(true, "badexample.com", 443));
    }

    #[test]
    fn only_an_ip_entry_names_an_ip() {
        let local = "127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(entry("http://127.0.0.1:*").names_ip(false, local, 9000));
        assert!(!entry("http://localhost:*").names_ip(false, local, 9000));
        assert!(entry("https://[::1]:8443").covers(true, "::1", 8443));
    }

    #[test]
    fn malformed_entries_say_why() {
        for bad in [
            "api.example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://x.com:http",
            "https://user@x.com",
            "https://exa mple.com",
            "https://",
            "http://0.0.0.0:*",
            "http://[::]:*",
            "http://[::ffff:0.0.0.0]:80",
        ] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad}");
        }
        let unspecified = "http://0.0.0.0:*".parse::<AllowedHost>().map_err(|e| e.to_string());
        assert!(unspecified.is_err_and(|e| e.contains("reaches this machine itself")));
        assert_eq!(entry("https://x.com:*").to_string(), "https://x.com:*");
    }
}
