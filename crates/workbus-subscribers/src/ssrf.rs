//! The SSRF guard of the webhook sender: refuse targets on loopback, private,
//! link-local and unspecified addresses.
//!
//! Turned on per webhook with
//! [`WebhookConfig::refuse_private_addresses`](crate::webhook::WebhookConfig::refuse_private_addresses)
//! (or `WORKBUS_WEBHOOK_REFUSE_PRIVATE=true` for every configured webhook). It is
//! off by default, because a webhook receiver on the same machine or network is
//! the usual local setup.
//!
//! With it on:
//!
//! - a URL whose host is an IP address is checked when the webhook is configured,
//!   and a forbidden one is refused with [`Error::InvalidUrl`](crate::Error::InvalidUrl);
//! - a host name is resolved on every connection by the guard's own resolver,
//!   and the connection only ever goes to an address that passed the check, so
//!   a DNS answer that changes between a check and the connection (DNS
//!   rebinding) cannot reach a forbidden address. A host whose every address is
//!   forbidden is refused for good: the event is dead-lettered with the reason
//!   `refused_address`, not retried.
//!
//! Refused ranges ([`forbidden`]): IPv4 `0.0.0.0/8` (unspecified, "this
//! network"), `127.0.0.0/8` (loopback), `10.0.0.0/8`, `172.16.0.0/12`,
//! `192.168.0.0/16` (private), `169.254.0.0/16` (link-local, where cloud
//! metadata services answer), `100.64.0.0/10` (shared address space), and the
//! broadcast address; IPv6 `::` (unspecified), `::1` (loopback), `fc00::/7`
//! (unique local), `fe80::/10` (link-local), `fec0::/10` (the old site-local),
//! and IPv4-mapped or IPv4-compatible addresses whose IPv4 part is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use futures_util::future::LocalBoxFuture;

/// Why an address is refused, or `None` when it may be a webhook target.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use workbus_subscribers::ssrf::forbidden;
///
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// assert_eq!(forbidden(ip("127.0.0.1")), Some("loopback"));
/// assert_eq!(forbidden(ip("10.1.2.3")), Some("private"));
/// assert_eq!(forbidden(ip("169.254.169.254")), Some("link-local"));
/// assert_eq!(forbidden(ip("::ffff:192.168.0.1")), Some("private"));
/// assert_eq!(forbidden(ip("fe80::1")), Some("link-local"));
/// assert_eq!(forbidden(ip("93.184.216.34")), None);
/// assert_eq!(forbidden(ip("2606:2800:220:1::")), None);
/// ```
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if a == 0 {
        Some("unspecified")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared address space")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        forbidden_v4(v4)
    } else if ip.segments()[..6] == [0; 6] {
        // IPv4-compatible (deprecated, still routed by some stacks): ::a.b.c.d
        forbidden_v4(Ipv4Addr::from(ip.to_bits() as u32))
    } else {
        None
    }
}

/// The error of a connection the guard refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedAddress {
    /// The host name of the URL.
    pub host: String,
    /// The first refused address it resolved to, and why it is refused.
    pub addr: IpAddr,
    /// Why (`loopback`, `private`, ...).
    pub why: &'static str,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves only to refused addresses ({} is {}): private and loopback webhook targets are refused",
            self.host, self.addr, self.why
        )
    }
}

impl std::error::Error for RefusedAddress {}

/// A resolver for awc that answers only the addresses [`forbidden`] lets through.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GuardedResolver;

impl actix_tls::connect::Resolve for GuardedResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| match forbidden(a.ip()) {
                    Some(why) => {
                        refused.get_or_insert((a.ip(), why));
                        false
                    }
                    None => true,
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (true, Some((addr, why))) => Err(Box::new(RefusedAddress {
                    host: host.to_owned(),
                    addr,
                    why,
                }) as Box<dyn std::error::Error>),
                _ => Ok(allowed),
            }
        })
    }
}

/// An awc connector that connects through [`GuardedResolver`].
pub(crate) fn guarded_connector() -> actix_tls::connect::ConnectorService {
    actix_tls::connect::Connector::new(actix_tls::connect::Resolver::custom(GuardedResolver))
        .service()
}

/// Checks a URL's host when it is an IP address (those skip every resolver).
pub(crate) fn check_literal(host: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => match forbidden(ip) {
            Some(why) => Err(format!(
                "{ip} is a {why} address, and private and loopback webhook targets are refused"
            )),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_and_allowed_ranges() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
        ] {
            assert!(forbidden(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for good in [
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(forbidden(good.parse().unwrap()), None, "{good}");
        }
        assert!(check_literal("[::1]").is_err());
        assert!(check_literal("127.0.0.1").is_err());
        assert!(check_literal("example.com").is_ok());
    }
}
