//! Which addresses a peer tells us about (in identify, a rendezvous registration or a DHT
//! answer) are worth keeping for dialling.
//!
//! A loopback address names the host of whoever uses it. Kept from a peer on another host, it
//! leads a dial to this host instead: where this node listens on the same port (every node
//! defaults to 4001), the dial reaches this node itself, the handshake names the wrong peer and
//! libp2p fails the whole dial, with every other address of the peer. So a loopback address is
//! kept only when it was told over a loopback link, by a peer on this host.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Whether `addr` starts on a loopback IP address (a relayed address through a relay on
/// another host does not).
pub(crate) fn is_loopback(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Whether `addr` is unspecified (`0.0.0.0`, `::`) anywhere.
pub(crate) fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| {
        matches!(p, Protocol::Ip4(ip) if ip.is_unspecified())
            || matches!(p, Protocol::Ip6(ip) if ip.is_unspecified())
    })
}

/// Whether to keep `addr`, told by a peer; `over_loopback` says the peer told it over a
/// loopback link (so it is on this host).
pub(crate) fn usable(addr: &Multiaddr, over_loopback: bool) -> bool {
    !is_unspecified(addr) && (over_loopback || !is_loopback(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_usable_only_when_told_over_loopback() {
        let lo: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let lan: Multiaddr = "/ip4/192.168.1.2/tcp/4001".parse().unwrap();
        let any: Multiaddr = "/ip4/0.0.0.0/tcp/4001".parse().unwrap();
        assert!(usable(&lo, true), "told by a peer on this host");
        assert!(
            !usable(&lo, false),
            "told by a peer elsewhere: it would name this host"
        );
        assert!(usable(&lan, false));
        assert!(!usable(&any, true), "an unspecified address names no host");
    }

    fn a(s: &str) -> Multiaddr {
        s.parse().expect("multiaddr")
    }

    #[test]
    fn loopback_is_judged_by_the_first_hop_only() {
        assert!(is_loopback(&a("/ip6/::1/udp/4001/quic-v1")));
        assert!(!is_loopback(&a(
            "/ip4/198.18.0.1/tcp/4001/p2p/12D3KooWGAhXwQjSzV6xfqbgGkqCFjhWy19wrySHUfJx6Fp2LHNB/p2p-circuit"
        )));
        assert!(!is_loopback(&a("/dns4/localhost/tcp/4001")));
    }

    #[test]
    fn unspecified_is_never_usable() {
        for addr in ["/ip4/0.0.0.0/tcp/1", "/ip6/::/tcp/1"] {
            assert!(!usable(&a(addr), true), "{addr}");
            assert!(!usable(&a(addr), false), "{addr}");
        }
    }
}
