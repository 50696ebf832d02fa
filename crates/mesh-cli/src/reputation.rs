//! `mesh reputation`, and the reputation flags of `mesh node`.

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::bail;
use libp2p::PeerId;
use mesh_core::trust::MAX_PRE_TRUSTED;
use mesh_net::{ReputationConfig, ReputationView};
use mesh_node::Home;

use crate::args::ReputationArgs;
use crate::client::ApiClient;

/// The reputation settings of `--trust-peer` and `--no-share-receipts`; more than
/// [`MAX_PRE_TRUSTED`] distinct trusted peers is an error rather than a silent cut.
pub fn config(args: &ReputationArgs) -> anyhow::Result<ReputationConfig> {
    let mut trusted = args.trust_peers.clone();
    trusted.sort_unstable();
    trusted.dedup();
    if trusted.len() > MAX_PRE_TRUSTED {
        bail!(
            "{} peers given with --trust-peer: at most {MAX_PRE_TRUSTED} may be trusted from the start; keep the operators' seed identities you know",
            trusted.len()
        );
    }
    Ok(ReputationConfig::default()
        .with_trusted_peers(trusted)
        .with_share_receipts(!args.no_share_receipts))
}

/// Asks the running node for its view of `peer` and prints it.
pub async fn run(home: &Home, peer: PeerId, json: bool) -> anyhow::Result<ExitCode> {
    let view: ReputationView = ApiClient::from_home(home)?
        .get(&format!("/v1/peers/{peer}/reputation"))
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", render(&view));
    }
    Ok(ExitCode::SUCCESS)
}

/// When the scores were computed, for people.
fn computed(ms: u64) -> String {
    if ms == 0 {
        return "not yet (no recomputation has run)".to_owned();
    }
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    format!("{} ({ms} Unix ms)", humantime::format_rfc3339_millis(at))
}

/// The view in plain words.
pub fn render(v: &ReputationView) -> String {
    let named = if v.known {
        "yes"
    } else {
        "no (nothing but this node's own observations speaks for or against it)"
    };
    let mut out = String::new();
    out.push_str(&format!("Peer {}\n", v.peer_id));
    out.push_str(&format!(
        "  reputation        {:.3}  (what discovery and the offer strategy use)\n",
        v.reputation
    ));
    out.push_str(&format!(
        "  receipts score    {:.3}  (from the receipts this node holds; 0.5 when nobody trusted rated it)\n",
        v.receipts_score
    ));
    out.push_str(&format!(
        "  local score       {:.3}  (this node's own score of its messages)\n",
        v.local_score
    ));
    out.push_str(&format!(
        "  global trust      {:.4}  (above 0 only if good receipts lead to it from a trusted peer)\n",
        v.global_trust
    ));
    out.push_str(&format!(
        "  rater weight      {:.3}  (how much its own receipts count)\n",
        v.rater_weight
    ));
    out.push_str(&format!(
        "  evidence          {:.2} for, {:.2} against\n",
        v.positive_evidence, v.negative_evidence
    ));
    out.push_str(&format!("  named in receipts {named}\n"));
    out.push_str(&format!(
        "  computed          {}\n",
        computed(v.computed_at_ms)
    ));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(trust_peers: Vec<PeerId>, no_share_receipts: bool) -> ReputationArgs {
        ReputationArgs {
            trust_peers,
            no_share_receipts,
        }
    }

    #[test]
    fn flags_make_the_reputation_settings() {
        let defaults = config(&args(Vec::new(), false)).unwrap();
        assert!(defaults.trusted_peers.is_empty());
        assert!(defaults.share_receipts, "shared by default");
        assert_eq!(
            defaults.recompute_interval,
            ReputationConfig::default().recompute_interval
        );
        let peer = PeerId::random();
        let set = config(&args(vec![peer, peer], true)).unwrap();
        assert_eq!(set.trusted_peers, vec![peer], "repeats count once");
        assert!(!set.share_receipts);
    }

    #[test]
    fn more_trusted_peers_than_the_model_keeps_is_refused() {
        // The help of --trust-peer says 64.
        assert_eq!(MAX_PRE_TRUSTED, 64);
        let most: Vec<PeerId> = (0..MAX_PRE_TRUSTED).map(|_| PeerId::random()).collect();
        let set = config(&args(most.clone(), false)).unwrap();
        assert_eq!(set.trusted_peers.len(), MAX_PRE_TRUSTED);
        let mut too_many = most;
        too_many.push(PeerId::random());
        let e = config(&args(too_many, false)).unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
    }

    #[test]
    fn render_says_what_each_figure_is() {
        let view = ReputationView {
            peer_id: "12D3KooWpeer".into(),
            reputation: 0.5,
            receipts_score: 0.5,
            local_score: 0.5,
            global_trust: 0.0,
            rater_weight: 0.0,
            positive_evidence: 0.0,
            negative_evidence: 0.0,
            known: false,
            computed_at_ms: 0,
        };
        let text = render(&view);
        assert!(text.contains("reputation        0.500"), "{text}");
        assert!(text.contains("named in receipts no"), "{text}");
        assert!(text.contains("computed          not yet"), "{text}");
        let known = ReputationView {
            known: true,
            computed_at_ms: 1_700_000_000_000,
            positive_evidence: 1.5,
            ..view
        };
        let text = render(&known);
        assert!(text.contains("named in receipts yes"), "{text}");
        assert!(text.contains("2023-11-14T22:13:20.000Z"), "{text}");
        assert!(text.contains("1.50 for, 0.00 against"), "{text}");
    }
}
