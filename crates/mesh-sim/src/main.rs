//! `mesh-sim`: run a MESH scenario with many nodes in one process.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mesh_sim::propagation::{Params, run};

/// Many real MESH nodes in one process, over in-memory links with a latency.
#[derive(Debug, Parser)]
#[command(name = "mesh-sim", version)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// How fast intents reach every subscriber.
    Propagation {
        /// Nodes, the publisher included.
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        /// One-way latency of every link, ms.
        #[arg(long, default_value_t = 25)]
        latency_ms: u64,
        /// Intents measured.
        #[arg(long, default_value_t = 10)]
        intents: usize,
        /// Inline payload per intent, bytes (at most 49152).
        #[arg(long, default_value_t = 0)]
        payload_bytes: usize,
        /// Earlier nodes each node bootstraps from.
        #[arg(long, default_value_t = 3)]
        degree: usize,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "error".to_owned()))
        .with_writer(std::io::stderr)
        .init();
    let Scenario::Propagation {
        nodes,
        latency_ms,
        intents,
        payload_bytes,
        degree,
        seed,
        json,
    } = Cli::parse().scenario;
    let params = Params {
        nodes,
        latency: Duration::from_millis(latency_ms),
        intents,
        payload_bytes,
        degree,
        seed,
        ..Params::default()
    };
    let report = run(&params).await?;
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    println!(
        "propagation: {} nodes, {} ms links, {} intents of {} B payload, seed {}",
        report.nodes, report.latency_ms, intents, report.payload_bytes, report.seed
    );
    println!("| measure | value |\n|---|---:|");
    println!("| setup (start + mesh formed), s | {:.1} |", report.setup_s);
    println!("| delivery ratio | {:.4} |", report.delivery_ratio);
    println!(
        "| time to 50% / 95% / 100%, median ms | {} / {} / {} |",
        ms(report.median_t50_ms),
        ms(report.median_t95_ms),
        ms(report.median_t100_ms)
    );
    println!(
        "| ideal (eccentricity {} x latency), ms | {:.1} |",
        report.eccentricity, report.ideal_ms
    );
    println!(
        "| time to 100% / ideal | {} |",
        report
            .t100_over_ideal
            .map_or("-".to_owned(), |r| format!("{r:.2}"))
    );
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
