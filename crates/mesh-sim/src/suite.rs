//! Every scenario at one size, in one run: JSON of each, SVG charts, and a report in Markdown
//! that sets each figure against its target.
//!
//! Runs, in order: intent propagation with small intents at the default gossip degree, then at
//! the degrees of [`Params::degrees`] (the duplicates trade-off), with large intents; discovery
//! at each size of [`Params::discovery_sizes`]; negotiation; churn. Each run's JSON is written
//! as soon as it ends, so a long suite that is stopped keeps what it measured, and a later run
//! with [`Params::resume`] reads it instead of measuring it again. [`Params::parts`] picks the
//! parts a run measures; the others are read from the directory when they are there, so two
//! processes can measure different parts into one directory and a last run writes the report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_net::GossipDegree;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, Measured};
use crate::net::NodeSettings;
use crate::plot::{Chart, Series};
use crate::{churn, discovery, negotiation, propagation};

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes of every scenario but the discovery sizes.
    pub nodes: usize,
    /// Where the JSON files, the charts and `report.md` go.
    pub out: PathBuf,
    /// Node and link settings (the gossip degree is the default one).
    pub settings: NodeSettings,
    /// Gossip degrees measured besides the default, with small intents.
    pub degrees: Vec<usize>,
    /// Network sizes of the discovery scenario.
    pub discovery_sizes: Vec<usize>,
    /// Intents per propagation run.
    pub intents: usize,
    /// Payload of the large intents, bytes.
    pub large_payload_bytes: usize,
    /// Seconds of churn.
    pub churn_duration: Duration,
    /// Seed of every run.
    pub seed: u64,
    /// Clock of every run.
    pub clock: Clock,
    /// The parts this run measures; the others are read from `out` if they are there.
    pub parts: Vec<Part>,
    /// Read parts already in `out` instead of measuring them again.
    pub resume: bool,
}

/// A part of the suite: one or more scenario runs, each saved as its own JSON file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Small intents at the default gossip degree.
    Propagation,
    /// Small intents at each of [`Params::degrees`].
    Degrees,
    /// Large intents at the default gossip degree.
    Large,
    /// Discovery at each of [`Params::discovery_sizes`].
    Discovery,
    /// Negotiation.
    Negotiation,
    /// Churn.
    Churn,
}

impl Part {
    /// Every part, in the order the suite runs them.
    pub const ALL: [Part; 6] = [
        Part::Propagation,
        Part::Degrees,
        Part::Large,
        Part::Discovery,
        Part::Negotiation,
        Part::Churn,
    ];
}

impl Params {
    /// The suite at `nodes` nodes, discovery at 100, 300 and `nodes` (those not above it).
    pub fn at(nodes: usize, out: PathBuf) -> Self {
        let mut discovery_sizes: Vec<usize> =
            [100, 300].into_iter().filter(|n| *n < nodes).collect();
        discovery_sizes.push(nodes);
        Self {
            nodes,
            out,
            settings: NodeSettings::default(),
            degrees: vec![3, 4],
            discovery_sizes,
            intents: 5,
            large_payload_bytes: mesh_core::intent::MAX_PAYLOAD_BYTES,
            churn_duration: Duration::from_secs(120),
            seed: 7,
            clock: Clock::Virtual,
            parts: Part::ALL.to_vec(),
            resume: false,
        }
    }
}

/// Everything the suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes.
    pub nodes: usize,
    /// The clock.
    pub clock: Clock,
    /// Small intents at the default degree.
    pub propagation: propagation::Report,
    /// Small intents at each other degree, `(degree, report)`.
    pub propagation_by_degree: Vec<(usize, propagation::Report)>,
    /// Large intents at the default degree.
    pub propagation_large: propagation::Report,
    /// Discovery at each size.
    pub discovery: Vec<discovery::Report>,
    /// Negotiation.
    pub negotiation: negotiation::Report,
    /// Churn.
    pub churn: churn::Report,
}

/// Runs the suite, writing into `p.out` as it goes. Returns `None`, having said on stderr
/// what is missing, when a part is neither measured by this run nor saved in `p.out`.
pub async fn run(p: &Params) -> anyhow::Result<Option<Report>> {
    std::fs::create_dir_all(&p.out).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the output directory {}: {e}",
            p.out.display()
        )
    })?;
    let prop = |settings: NodeSettings, payload_bytes: usize| propagation::Params {
        nodes: p.nodes,
        settings,
        intents: p.intents,
        payload_bytes,
        seed: p.seed,
        clock: p.clock,
        ..propagation::Params::default()
    };
    let same_propagation = |degree: usize, payload_bytes: usize| {
        move |r: &propagation::Report| {
            r.nodes == p.nodes
                && r.seed == p.seed
                && r.gossip_degree == degree
                && r.payload_bytes == payload_bytes
                && r.intents.len() == p.intents
        }
    };
    let mut missing = Vec::new();
    let default_degree = p.settings.gossip_degree.target();

    let small_params = prop(p.settings.clone(), 0);
    let small = part(
        p,
        Part::Propagation,
        &format!("propagation-d{default_degree}"),
        same_propagation(default_degree, 0),
        || propagation::run(&small_params),
        &mut missing,
    )
    .await?;
    let mut by_degree = Vec::new();
    for &d in &p.degrees {
        let settings = NodeSettings {
            gossip_degree: GossipDegree::new(d)?,
            ..p.settings.clone()
        };
        let params = prop(settings, 0);
        let r = part(
            p,
            Part::Degrees,
            &format!("propagation-d{d}"),
            same_propagation(d, 0),
            || propagation::run(&params),
            &mut missing,
        )
        .await?;
        by_degree.extend(r.map(|r| (d, r)));
    }
    let large_params = prop(p.settings.clone(), p.large_payload_bytes);
    let large = part(
        p,
        Part::Large,
        "propagation-large",
        same_propagation(default_degree, p.large_payload_bytes),
        || propagation::run(&large_params),
        &mut missing,
    )
    .await?;

    let mut disc = Vec::new();
    for &n in &p.discovery_sizes {
        let params = discovery::Params {
            nodes: n,
            settings: p.settings.clone(),
            seed: p.seed,
            clock: p.clock,
            ..discovery::Params::default()
        };
        // Each query asks from a different node that is not a provider.
        let queries = params.queries.min(n.saturating_sub(params.providers));
        let r = part(
            p,
            Part::Discovery,
            &format!("discovery-{n}"),
            |r: &discovery::Report| r.nodes == n && r.seed == p.seed && r.queries.len() == queries,
            || discovery::run(&params),
            &mut missing,
        )
        .await?;
        disc.extend(r);
    }

    let neg_params = negotiation::Params {
        nodes: p.nodes,
        publishers: (p.nodes / 10).max(1),
        intents_per_publisher: 2,
        settings: p.settings.clone(),
        seed: p.seed,
        clock: p.clock,
        ..negotiation::Params::default()
    };
    let neg = part(
        p,
        Part::Negotiation,
        "negotiation",
        |r: &negotiation::Report| {
            r.nodes == p.nodes && r.seed == p.seed && r.publishers == neg_params.publishers
        },
        || negotiation::run(&neg_params),
        &mut missing,
    )
    .await?;

    let churn_params = churn::Params {
        nodes: p.nodes,
        duration: p.churn_duration,
        settings: p.settings.clone(),
        seed: p.seed,
        clock: p.clock,
        ..churn::Params::default()
    };
    let ch = part(
        p,
        Part::Churn,
        "churn",
        |r: &churn::Report| {
            r.nodes == p.nodes && r.seed == p.seed && r.duration_s == p.churn_duration.as_secs_f64()
        },
        || churn::run(&churn_params),
        &mut missing,
    )
    .await?;

    let (Some(small), Some(large), Some(neg), Some(ch), true) =
        (small, large, neg, ch, missing.is_empty())
    else {
        eprintln!(
            "suite: no report yet; still to measure into {}: {}. Run them (--parts) and then \
             the suite again with --resume.",
            p.out.display(),
            missing.join(", ")
        );
        return Ok(None);
    };
    let report = Report {
        nodes: p.nodes,
        clock: p.clock,
        propagation: small,
        propagation_by_degree: by_degree,
        propagation_large: large,
        discovery: disc,
        negotiation: neg,
        churn: ch,
    };
    let path = p.out.join("suite.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    draw(&report, &p.out)?;
    std::fs::write(p.out.join("report.md"), markdown(&report))?;
    Ok(Some(report))
}

/// One run of the suite, `<name>.json` in `p.out`: measured when `which` is one of
/// `p.parts` (unless `p.resume` and the file is there), otherwise read from the file. A file
/// measured on another clock or with other settings (`same` is false) is an error rather than
/// a figure in the wrong report. Returns `None` and names the run in `missing` when it is
/// neither measured nor saved.
async fn part<R, F>(
    p: &Params,
    which: Part,
    name: &str,
    same: impl Fn(&R) -> bool,
    measure: impl FnOnce() -> F,
    missing: &mut Vec<String>,
) -> anyhow::Result<Option<R>>
where
    R: Serialize + DeserializeOwned,
    F: std::future::Future<Output = anyhow::Result<R>>,
{
    let path = p.out.join(format!("{name}.json"));
    let saved = path.exists();
    if p.parts.contains(&which) && !(p.resume && saved) {
        eprintln!("suite: {name}, measuring");
        crate::memory::reset();
        let r = measure().await?;
        let memory = crate::memory::Memory::measure();
        if let Some(m) = memory {
            eprintln!("suite: {name}, {m}");
        }
        save(&p.out, name, p.clock, memory, &r)?;
        return Ok(Some(r));
    }
    if !saved {
        missing.push(name.to_owned());
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let m: Measured<R> = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a saved run of the suite ({e}); remove it, or measure the part again",
            path.display()
        )
    })?;
    anyhow::ensure!(
        m.clock == p.clock && same(&m.report),
        "{} was measured on the {} clock or with other settings than this suite's ({} nodes, \
         seed {}, {} clock); remove it, or measure the part again",
        path.display(),
        m.clock,
        p.nodes,
        p.seed,
        p.clock
    );
    eprintln!("suite: {name}, read from {}", path.display());
    Ok(Some(m.report))
}

fn save<T: Serialize>(
    dir: &Path,
    name: &str,
    clock: Clock,
    memory: Option<crate::memory::Memory>,
    report: &T,
) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.json"));
    let value = Measured {
        clock,
        provenance: Some(crate::provenance::Provenance::current()),
        memory,
        report,
    };
    std::fs::write(&path, serde_json::to_string_pretty(&value)?)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Draws the suite's charts into `dir`.
pub fn draw(r: &Report, dir: &Path) -> anyhow::Result<()> {
    let mut arrivals = vec![Series::cdf(
        format!("small, degree {}", r.propagation.gossip_degree),
        &r.propagation.first_intent_arrivals_ms,
    )];
    for (d, p) in &r.propagation_by_degree {
        arrivals.push(Series::cdf(
            format!("small, degree {d}"),
            &p.first_intent_arrivals_ms,
        ));
    }
    arrivals.push(Series::cdf(
        format!("{} KiB payload", r.propagation_large.payload_bytes / 1024),
        &r.propagation_large.first_intent_arrivals_ms,
    ));
    Chart {
        title: &format!(
            "Intent propagation, {} nodes: share of subscribers reached",
            r.nodes
        ),
        x_label: "ms after publication",
        y_label: "share of subscribers",
        series: arrivals,
        markers: vec![
            (
                r.propagation.connection_ideal_ms,
                format!(
                    "physical limit ({} hops over connections)",
                    r.propagation.connection_hops
                ),
            ),
            (
                r.propagation.ideal_ms,
                format!("gossip paths ({} hops)", r.propagation.gossip_hops),
            ),
        ],
        dots: false,
    }
    .write_svg(&dir.join("propagation.svg"))?;

    let mut copies = vec![(
        r.propagation.gossip_degree as f64,
        r.propagation.copies_per_delivery.unwrap_or(0.0),
    )];
    copies.extend(
        r.propagation_by_degree
            .iter()
            .map(|(d, p)| (*d as f64, p.copies_per_delivery.unwrap_or(0.0))),
    );
    copies.sort_by(|a, b| a.0.total_cmp(&b.0));
    Chart {
        title: &format!("Copies received per delivered intent, {} nodes", r.nodes),
        x_label: "gossip degree D",
        y_label: "copies per delivery",
        series: vec![Series {
            name: "copies".to_owned(),
            points: copies,
        }],
        markers: Vec::new(),
        dots: true,
    }
    .write_svg(&dir.join("duplicates.svg"))?;

    let point = |f: fn(&discovery::Report) -> Option<f64>| {
        r.discovery
            .iter()
            .filter_map(|d| f(d).map(|v| (d.nodes as f64, v)))
            .collect()
    };
    Chart {
        title: "Discovery: median cost of finding a matching agent",
        x_label: "nodes",
        y_label: "median",
        series: vec![
            Series {
                name: "lookup rounds to the first provider".to_owned(),
                points: point(|d| d.median_first_provider_rounds),
            },
            Series {
                name: "whole query, link round trips".to_owned(),
                points: point(|d| d.median_latency_rtts),
            },
        ],
        markers: Vec::new(),
        dots: true,
    }
    .write_svg(&dir.join("discovery.svg"))?;

    Chart {
        title: &format!(
            "Negotiations, {} nodes: time from publication to receipt",
            r.nodes
        ),
        x_label: "ms",
        y_label: "share of completed negotiations",
        series: vec![Series::cdf(
            "publication to receipt",
            &r.negotiation.publish_to_receipt_ms,
        )],
        markers: vec![(r.negotiation.window_ms, "offer window".to_owned())],
        dots: false,
    }
    .write_svg(&dir.join("negotiation.svg"))?;

    Chart {
        title: &format!(
            "Churn, {} nodes, {:.0}% replaced per minute: delivery per intent",
            r.nodes,
            r.churn.churn_per_minute * 100.0
        ),
        x_label: "s from the start of churn",
        y_label: "delivered / expected",
        series: vec![Series {
            name: "intent".to_owned(),
            points: r
                .churn
                .per_intent
                .iter()
                .filter(|i| i.expected > 0)
                .map(|i| (i.at_s, i.delivered as f64 / i.expected as f64))
                .collect(),
        }],
        markers: Vec::new(),
        dots: true,
    }
    .write_svg(&dir.join("churn.svg"))?;
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.digits$}"))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The report: targets first, then each scenario, then the charts.
pub fn markdown(r: &Report) -> String {
    let p = &r.propagation;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# MESH simulation: {} nodes ({} clock)\n\nSeed {}, one-way link latency {} ms, loss {}. \
         Every node is a real MESH node (`mesh-net`'s behaviours and event loop) on an \
         in-memory transport with Noise and Yamux. Each part's JSON file beside this report \
         names the commit, the command and the machine that measured it (`provenance`).\n",
        r.nodes, r.clock, p.seed, p.latency_ms, p.loss
    );
    let disc = r.discovery.last();
    let _ = writeln!(s, "## Targets\n\n| target | figure | |\n|---|---|---|");
    let _ = writeln!(
        s,
        "| propagation: 100% delivery | {:.4} | {} |",
        p.delivery_ratio,
        verdict(p.delivery_ratio >= 1.0)
    );
    let _ = writeln!(
        s,
        "| propagation: time to 100% within 1.3 × the physical limit (shortest path over \
         the connection graph, {} hops) | {} ms / {:.0} ms = {} | {} |",
        p.connection_hops,
        opt(p.median_t100_ms, 1),
        p.connection_ideal_ms,
        opt(p.t100_over_connection_ideal, 2),
        verdict(p.t100_over_connection_ideal.is_some_and(|x| x <= 1.3))
    );
    let _ = writeln!(
        s,
        "| duplicates: at most 3 copies per delivered intent (degree {}) | {} | {} |",
        p.gossip_degree,
        opt(p.copies_per_delivery, 2),
        verdict(p.copies_per_delivery.is_some_and(|x| x <= 3.0))
    );
    let _ = writeln!(
        s,
        "| bytes: each node sends at most 4 × the signed intent per intent (less the \
         background, measured in a quiet window; intent {} B) | {} × | {} |",
        opt(p.intent_bytes, 0),
        opt(p.intent_cost_over_intent_bytes, 2),
        verdict(p.intent_cost_over_intent_bytes.is_some_and(|x| x <= 4.0))
    );
    if let Some(d) = disc {
        let _ = writeln!(
            s,
            "| discovery at {} nodes: every query finds a matching agent | {:.2} | {} |",
            d.nodes,
            d.success_ratio,
            verdict(d.success_ratio >= 1.0)
        );
        let _ = writeln!(
            s,
            "| discovery at {} nodes: at least 95% of queries find every provider | {:.2} | {} |",
            d.nodes,
            d.complete_ratio,
            verdict(d.complete_ratio >= 0.95)
        );
        // The query answers with all its agents at its end: the first agent reaches the caller
        // when the whole query does. Round trips are counted on the virtual clock (processing
        // free, every link the same latency), not estimated from requests.
        let _ = writeln!(
            s,
            "| discovery at {} nodes: first agent returned to the caller within 3 round trips \
             (median; the first agent record was held after {}) | {} | {} |",
            d.nodes,
            opt(d.median_first_agent_rounds, 1),
            opt(d.median_latency_rtts, 1),
            verdict(d.median_latency_rtts.is_some_and(|x| x <= 3.0))
        );
        let _ = writeln!(
            s,
            "| discovery at {} nodes: first agent returned to the caller within 6 round trips \
             (p90; the first agent record was held after {}) | {} | {} |",
            d.nodes,
            opt(d.p90_first_agent_rounds, 1),
            opt(d.p90_latency_rtts, 1),
            verdict(d.p90_latency_rtts.is_some_and(|x| x <= 6.0))
        );
    }

    let _ = writeln!(
        s,
        "\n## Propagation\n\n| run | delivery | to 50% ms | to 95% ms | to 100% ms | physical limit ms (connection hops) | 100% / physical limit | gossip paths ms (hops) | 100% / gossip paths | copies per delivery | bytes per node per intent |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut rows = vec![(format!("small, degree {}", p.gossip_degree), p)];
    for (d, q) in &r.propagation_by_degree {
        rows.push((format!("small, degree {d}"), q));
    }
    rows.push((
        format!(
            "{} B payload, degree {}",
            r.propagation_large.payload_bytes, r.propagation_large.gossip_degree
        ),
        &r.propagation_large,
    ));
    for (name, q) in rows {
        let _ = writeln!(
            s,
            "| {name} | {:.4} | {} | {} | {} | {:.0} ({}) | {} | {:.0} ({}) | {} | {} | {:.0} |",
            q.delivery_ratio,
            opt(q.median_t50_ms, 1),
            opt(q.median_t95_ms, 1),
            opt(q.median_t100_ms, 1),
            q.connection_ideal_ms,
            q.connection_hops,
            opt(q.t100_over_connection_ideal, 2),
            q.ideal_ms,
            q.gossip_hops,
            opt(q.t100_over_ideal, 2),
            opt(q.copies_per_delivery, 2),
            q.bytes_per_node_per_intent
        );
    }

    let _ = writeln!(
        s,
        "\n## Discovery\n\n| nodes | found a provider / all | DHT requests to the first provider | lookup rounds | whole query ms (round trips) | at rest per node-minute: connections / DHT queries |\n|---:|---:|---:|---:|---:|---:|"
    );
    for d in &r.discovery {
        let _ = writeln!(
            s,
            "| {} | {:.2} / {:.2} | {} | {} | {} ({}) | {:.1} / {:.1} |",
            d.nodes,
            d.success_ratio,
            d.complete_ratio,
            opt(d.median_first_provider_requests, 1),
            opt(d.median_first_provider_rounds, 1),
            opt(d.median_latency_ms, 1),
            opt(d.median_latency_rtts, 1),
            d.background.connections_per_node_minute,
            d.background.dht_queries_per_node_minute
        );
    }

    let n = &r.negotiation;
    let _ = writeln!(
        s,
        "\n## Negotiation\n\n{} publishers, {} intents, {} ms offer window.\n\n| completed | unawarded | failed | completed per s | INP messages per s | publication to receipt, median ms |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} | {:.1} | {:.1} | {} |",
        n.publishers,
        n.intents,
        n.window_ms,
        n.completed,
        n.unawarded,
        n.failed,
        n.completed_per_s,
        n.inp_messages_per_s,
        opt(n.median_publish_to_receipt_ms, 1)
    );

    let c = &r.churn;
    let _ = writeln!(
        s,
        "\n## Churn\n\n{:.0}% of the nodes replaced per minute for {:.0} s.\n\n| replaced | intents | delivered / expected | complete intents | to 95% ms | to 100% ms |\n|---:|---:|---:|---:|---:|---:|\n| {} | {} | {} / {} ({:.4}) | {} | {} | {} |",
        c.churn_per_minute * 100.0,
        c.duration_s,
        c.replaced,
        c.intents,
        c.delivered,
        c.expected,
        c.delivery_ratio,
        c.complete_intents,
        opt(c.median_t95_ms, 1),
        opt(c.median_t100_ms, 1)
    );
    let _ = writeln!(
        s,
        "\n## Charts\n\n![propagation](propagation.svg)\n\n![duplicates](duplicates.svg)\n\n![discovery](discovery.svg)\n\n![negotiation](negotiation.svg)\n\n![churn](churn.svg)"
    );
    s
}
