//! `mesh doctor`, and the reachability flags of `mesh node`.

use std::process::ExitCode;

use mesh_net::reachability::{ReservationState, Status};
use mesh_net::{NetConfig, ReachabilityReport, Role};
use mesh_node::Home;

use crate::args::ReachArgs;
use crate::client::ApiClient;

/// Applies the role, NAT and discovery flags of `mesh node` to `net`.
pub fn apply(net: &mut NetConfig, args: &ReachArgs) {
    net.role = args.role;
    net.nat.relays = args.relays.clone();
    net.nat.external_addresses = args.external_addresses.clone();
    // A real agent asks its router for a port mapping; a coordinator is expected to have a
    // public address already.
    net.nat.upnp = args.role == Role::Agent && !args.no_upnp;
    net.nat.autonat_only_global_ips = !args.autonat_private_ips;
    net.discovery.dht = !args.no_dht_discovery;
    net.discovery.rendezvous = !args.no_rendezvous;
    net.peer_exchange.target_peers = args.target_peers;
}

/// Asks the running node for its reachability report and prints it.
pub async fn run(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let report: ReachabilityReport = ApiClient::from_home(home)?.get("/v1/reachability").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn status_words(s: Status) -> &'static str {
    match s {
        Status::Public => "public (peers can dial this node)",
        Status::Private => "private (peers cannot dial this node directly)",
        Status::Unknown => "unknown",
        _ => "not known to this version of mesh",
    }
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        out.push_str(&format!("{title}: none\n"));
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for i in items {
        out.push_str(&format!("  {i}\n"));
    }
}

/// The report in plain words.
pub fn render(r: &ReachabilityReport) -> String {
    let mut out = String::new();
    out.push_str(&format!("Role: {}\n", r.role));
    out.push_str(&format!(
        "Reachability: {} (confidence {})\n  why: {}\n",
        status_words(r.status),
        r.confidence,
        r.reason
    ));
    if let Some(a) = &r.public_address {
        out.push_str(&format!("  dialled back at {a}\n"));
    }
    out.push_str(&format!("NAT: {}\n", r.nat));
    list(&mut out, "Listening on", &r.listen_addrs);
    list(&mut out, "Seen by peers at", &r.observed_addrs);
    list(&mut out, "External addresses", &r.external_addrs);
    if r.reservations.is_empty() {
        out.push_str("Relay reservations: none\n");
    } else {
        out.push_str("Relay reservations:\n");
        for x in &r.reservations {
            let state = match x.state {
                ReservationState::Active => "active",
                ReservationState::Requested => "requested",
                ReservationState::Failed => "not active",
                _ => "in a state not known to this version of mesh",
            };
            let from = if x.configured { "--relay" } else { "AutoNAT" };
            out.push_str(&format!(
                "  {state} at {} (from {from}, renewed {} times)\n    reach this node at {}\n",
                x.relay, x.renewals, x.address
            ));
            if let Some(e) = &x.last_error {
                out.push_str(&format!("    last error: {e}\n"));
            }
        }
    }
    if r.peers.is_empty() {
        out.push_str("Peers: none connected\n");
    } else {
        let direct = r.peers.iter().filter(|p| p.path == "direct").count();
        out.push_str(&format!(
            "Peers: {} connected, {direct} direct, {} relayed only\n",
            r.peers.len(),
            r.peers.len() - direct
        ));
        for p in &r.peers {
            let upgraded = p
                .upgraded_after_ms
                .map(|ms| format!(", upgraded from relayed after {:.1} s", ms as f64 / 1000.0))
                .unwrap_or_default();
            out.push_str(&format!("  {} {}{upgraded}\n", p.peer_id, p.path));
        }
    }
    let h = &r.hole_punching;
    if h.attempts > 0 {
        out.push_str(&format!(
            "Hole punching: {} of {} attempts succeeded\n",
            h.successes, h.attempts
        ));
        for e in &h.recent_errors {
            out.push_str(&format!("  failed: {e}\n"));
        }
    }
    if r.advice.is_empty() {
        out.push_str("Nothing to do.\n");
    } else {
        out.push_str("What to do:\n");
        for a in &r.advice {
            out.push_str(&format!("  - {a}\n"));
        }
    }
    out
}
