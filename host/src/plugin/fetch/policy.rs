//! Which requests a plugin may make: its `allowed_hosts` (scheme, host, port) and the
//! addresses that are internal (loopback, private, link-local, metadata services), which a
//! request reaches only when an entry names them literally. Pure decisions, no I/O.

use crate::config::allowed_host::AllowedHost;
use std::net::IpAddr;
use std::time::Duration;

/// A plugin's outbound HTTP rules, from its `[plugins.NAME]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPolicy {
    pub allowed: Vec<AllowedHost>,
    /// From the request to its response's head, redirects included.
    pub timeout: Duration,
    /// Requests one call may start.
    pub max_fetches: u32,
    /// Bytes of one response body the plugin may read.
    pub max_body: u64,
}

/// Where a request goes: scheme, host (lower-case, IPv6 without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) https: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

impl Target {
    pub(super) fn of(uri: &http::Uri) -> Result<Self, String> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(format!("the scheme {other:?} is not http or https")),
        };
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self { https, host, port })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            _ => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl FetchPolicy {
    /// Whether an entry of `allowed_hosts` covers `target`.
    pub(super) fn allows(&self, target: &Target) -> Result<(), String> {
        if self.allowed.iter().any(|a| a.covers(target.https, &target.host, target.port)) {
            return Ok(());
        }
        Err(if self.allowed.is_empty() {
            "the plugin has no allowed_hosts".to_string()
        } else {
            "the host is not in the plugin's allowed_hosts".to_string()
        })
    }

    /// Whether the gateway may connect to `ip` for `target`: any public address, and an internal
    /// one only when an entry names it literally.
    pub(super) fn may_connect(&self, target: &Target, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|a| a.names_ip(target.https, ip, target.port))
    }
}

/// Addresses a request must not reach unless named literally: loopback, private ranges,
/// link-local (the cloud metadata service at 169.254.169.254 among them), unique local IPv6
/// (fd00::/8, the AWS metadata service fd00:ec2::254), carrier-grade NAT, multicast, reserved
/// and documentation ranges, and IPv6 forms that embed any of those.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || s[..6] == [0u16; 6]
                || (s[0], s[1]) == (0x64, 0xff9b)
                || s[0] == 0x2002
                || (s[0], s[1]) == (0x2001, 0xdb8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn internal_addresses_are_recognised_and_public_ones_are_not() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "198.18.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "52.0.0.1"] {
            assert!(!is_internal(ip(public)), "{public}");
        }
    }

    fn policy(allowed: &[&str]) -> FetchPolicy {
        FetchPolicy {
            allowed: allowed.iter().map(|a| a.parse().unwrap()).collect(),
            timeout: Duration::from_secs(1),
            max_fetches: 1,
            max_body: 1,
        }
    }

    fn target(url: &str) -> Target {
        Target::of(&url.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_name_allowed_by_entry_may_reach_public_addresses_but_not_internal_ones_unless_named() {
        let named = policy(&["http://localhost:8080"]);
        let t = target("http://localhost:8080/x");
        assert!(named.allows(&t).is_ok());
        assert!(!named.may_connect(&t, ip("127.0.0.1")));
        assert!(named.may_connect(&t, ip("93.184.216.34")));
        let literal = policy(&["http://localhost:8080", "http://127.0.0.1:8080"]);
        assert!(literal.may_connect(&t, ip("127.0.0.1")));
        assert!(!literal.may_connect(&target("http://localhost:9090/"), ip("127.0.0.1")), "another port");
    }

    #[test]
    fn a_host_outside_the_list_is_refused_with_the_reason() {
        assert_eq!(policy(&[]).allows(&target("https://a.com/")), Err("the plugin has no allowed_hosts".into()));
        let only = policy(&["https://api.bigcommerce.com"]);
        assert!(only.allows(&target("https://evil.example/")).is_err());
        assert_eq!(target("https://API.Example.com./p").to_string(), "https://api.example.com:443");
    }
}
