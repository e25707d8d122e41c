//! The SSRF guard of the webhook sender: refuse targets that are not
//! globally routable unicast addresses (loopback, private, link-local,
//! multicast, reserved, and IPv6 forms that carry such an IPv4 address).
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
//! The rule ([`forbidden`]): a target must be a *globally routable unicast*
//! address. Everything else is refused:
//!
//! - IPv4: `0.0.0.0/8` (unspecified, "this network"), `127.0.0.0/8`
//!   (loopback), `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (private),
//!   `169.254.0.0/16` (link-local, where cloud metadata services answer),
//!   `100.64.0.0/10` (shared address space), `192.0.0.0/24` (protocol
//!   assignments), `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`
//!   (documentation), `192.88.99.0/24` (the retired 6to4 relays),
//!   `198.18.0.0/15` (benchmarking), `224.0.0.0/4` (multicast) and
//!   `240.0.0.0/4` (reserved, with the broadcast address);
//! - IPv6: everything outside `2000::/3` (global unicast), which takes in
//!   `::`, `::1`, `fc00::/7` (unique local), `fe80::/10` (link-local),
//!   `fec0::/10` (the old site-local), `ff00::/8` (multicast), `100::/64`
//!   (discard) and `64:ff9b:1::/48` (local NAT64); inside it,
//!   `2001::/23` (protocol assignments, Teredo among them) and `2001:db8::/32`
//!   (documentation);
//! - an IPv6 address that carries an IPv4 address is judged by that IPv4
//!   address: IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`, NAT64
//!   `64:ff9b::/96` (so `64:ff9b::a9fe:a9fe` is 169.254.169.254) and 6to4
//!   `2002::/16`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use futures_util::future::LocalBoxFuture;

/// Why an address may not be a webhook target: it is not globally routable unicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `0.0.0.0/8`, `::`.
    #[error("unspecified")]
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    #[error("loopback")]
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    #[error("private")]
    Private,
    /// `fc00::/7`.
    #[error("unique local")]
    UniqueLocal,
    /// `169.254.0.0/16`, `fe80::/10`.
    #[error("link-local")]
    LinkLocal,
    /// `fec0::/10`.
    #[error("site-local")]
    SiteLocal,
    /// `100.64.0.0/10`.
    #[error("shared address space")]
    SharedAddressSpace,
    /// `198.18.0.0/15`.
    #[error("benchmarking")]
    Benchmarking,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`.
    #[error("documentation")]
    Documentation,
    /// `224.0.0.0/4`, `ff00::/8`.
    #[error("multicast")]
    Multicast,
    /// `255.255.255.255`.
    #[error("broadcast")]
    Broadcast,
    /// `240.0.0.0/4`, `192.0.0.0/24`, `192.88.99.0/24`, `2001::/23`, and
    /// IPv6 outside `2000::/3` not named above.
    #[error("reserved")]
    Reserved,
}

/// Why an address is refused, or `None` when it may be a webhook target
/// (it is globally routable unicast).
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use workbus_subscribers::ssrf::{forbidden, Refusal};
///
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// assert_eq!(forbidden(ip("127.0.0.1")), Some(Refusal::Loopback));
/// assert_eq!(forbidden(ip("10.1.2.3")), Some(Refusal::Private));
/// assert_eq!(forbidden(ip("169.254.169.254")), Some(Refusal::LinkLocal));
/// assert_eq!(forbidden(ip("::ffff:192.168.0.1")), Some(Refusal::Private));
/// assert_eq!(forbidden(ip("64:ff9b::a9fe:a9fe")), Some(Refusal::LinkLocal));
/// assert_eq!(forbidden(ip("fe80::1")), Some(Refusal::LinkLocal));
/// assert_eq!(forbidden(ip("93.184.216.34")), None);
/// assert_eq!(forbidden(ip("2606:2800:220:1::")), None);
/// ```
pub fn forbidden(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Refusal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => Refusal::Unspecified,
        (127, ..) => Refusal::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Refusal::Private,
        (169, 254, _) => Refusal::LinkLocal,
        (100, 64..=127, _) => Refusal::SharedAddressSpace,
        (198, 18..=19, _) => Refusal::Benchmarking,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Refusal::Documentation,
        (192, 0, 0) | (192, 88, 99) => Refusal::Reserved,
        (224..=239, ..) => Refusal::Multicast,
        _ if ip.is_broadcast() => Refusal::Broadcast,
        (240..=255, ..) => Refusal::Reserved,
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let s = ip.segments();
    let low32 = Ipv4Addr::from(ip.to_bits() as u32);
    if ip.is_unspecified() {
        Some(Refusal::Unspecified)
    } else if ip.is_loopback() {
        Some(Refusal::Loopback)
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        forbidden_v4(v4)
    } else if s[..6] == [0; 6] {
        // IPv4-compatible (deprecated, still routed by some stacks): ::a.b.c.d
        forbidden_v4(low32)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: the translator connects to the embedded IPv4 address.
        forbidden_v4(low32)
    } else if s[0] == 0x2002 {
        // 6to4: the relay delivers to the embedded IPv4 address.
        forbidden_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
    } else if s[0] & 0xff00 == 0xff00 {
        Some(Refusal::Multicast)
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some(Refusal::UniqueLocal)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(Refusal::LinkLocal)
    } else if s[0] & 0xffc0 == 0xfec0 {
        Some(Refusal::SiteLocal)
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some(Refusal::Documentation)
    } else if s[0] & 0xe000 != 0x2000 || (s[0] == 0x2001 && s[1] < 0x0200) {
        // Outside global unicast, or IETF protocol assignments (Teredo among them).
        Some(Refusal::Reserved)
    } else {
        None
    }
}

/// The error of a connection the guard refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves only to refused addresses ({addr} is {why}): webhook targets must be globally routable")]
pub struct RefusedAddress {
    /// The host name of the URL.
    pub host: String,
    /// The first refused address it resolved to.
    pub addr: IpAddr,
    /// Why it is refused.
    pub why: Refusal,
}

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

/// An awc connector that connects only to the addresses [`forbidden`] lets
/// through (for `awc::Connector::connector`); a URL whose host is an address
/// skips every resolver, so check it with [`check_literal`] too.
pub fn guarded_connector() -> actix_tls::connect::ConnectorService {
    actix_tls::connect::Connector::new(actix_tls::connect::Resolver::custom(GuardedResolver))
        .service()
}

/// Checks a URL's host when it is an IP address (those skip every resolver).
pub fn check_literal(host: &str) -> Result<(), crate::UrlError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(addr) => match forbidden(addr) {
            Some(why) => Err(crate::UrlError::Refused { addr, why }),
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
            // NAT64 and 6to4 carrying a refused IPv4 address (cloud metadata).
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:a9fe:a9fe::1",
            "2002:0a00:0001::",
            "64:ff9b:1::1",
            // Multicast.
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "ff0e::1",
            // Benchmarking, reserved, documentation, protocol assignments.
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "250.1.2.3",
            "192.0.2.1",
            "203.0.113.9",
            "192.0.0.8",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "4000::1",
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
            "64:ff9b::808:808",
            "2002:0808:0808::1",
            "198.20.0.1",
            "223.255.255.1",
        ] {
            assert_eq!(forbidden(good.parse().unwrap()), None, "{good}");
        }
        assert!(check_literal("[::1]").is_err());
        assert!(check_literal("127.0.0.1").is_err());
        assert!(check_literal("example.com").is_ok());
        assert_eq!(
            forbidden("64:ff9b::a9fe:a9fe".parse().unwrap()),
            Some(Refusal::LinkLocal)
        );
        assert_eq!(
            forbidden("2002:a9fe:a9fe::".parse().unwrap()),
            Some(Refusal::LinkLocal)
        );
        assert_eq!(
            forbidden("ff02::1".parse().unwrap()),
            Some(Refusal::Multicast)
        );
        assert_eq!(
            forbidden("224.0.0.1".parse().unwrap()),
            Some(Refusal::Multicast)
        );
        assert_eq!(
            forbidden("198.18.0.1".parse().unwrap()),
            Some(Refusal::Benchmarking)
        );
        assert_eq!(
            forbidden("240.0.0.1".parse().unwrap()),
            Some(Refusal::Reserved)
        );
        assert_eq!(
            forbidden("255.255.255.255".parse().unwrap()),
            Some(Refusal::Broadcast)
        );
    }
}
