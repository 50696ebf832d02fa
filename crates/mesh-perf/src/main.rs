//! `mesh-perf`: a libp2p perf (`/perf/1.0.0`) server and client on MESH's transports.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use libp2p::Multiaddr;
use mesh_perf::{client, server, transport};

#[derive(Parser)]
#[command(name = "mesh-perf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen and serve perf streams until killed; prints each listen address, one per line,
    /// with /p2p/<peer id>.
    Server(ServerArgs),
    /// Connect to a perf server, run the perf streams and print the result.
    Client(ClientArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address to listen on, e.g. /ip4/127.0.0.1/tcp/0 or /ip4/127.0.0.1/udp/0/quic-v1;
    /// repeat for several.
    #[arg(long = "listen", value_name = "MULTIADDR", required = true)]
    listen: Vec<Multiaddr>,
    /// Derive the identity from this number (same number, same peer id) instead of a fresh one.
    #[arg(long, value_name = "N")]
    key_seed: Option<u64>,
    /// Largest download a client may request on one stream.
    #[arg(long, value_name = "BYTES", default_value_t = server::DEFAULT_MAX_DOWNLOAD_BYTES)]
    max_download_bytes: u64,
    /// Largest upload a client may send on one stream.
    #[arg(long, value_name = "BYTES", default_value_t = server::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
    /// Streams served at once; further streams are reset.
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_MAX_CONCURRENT_STREAMS)]
    max_streams: usize,
    /// Connections established at once.
    #[arg(long, value_name = "N", default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: u32,
    /// Longest time one stream may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = server::DEFAULT_STREAM_TIMEOUT.as_secs())]
    stream_timeout_secs: u64,
}

#[derive(clap::Args)]
struct ClientArgs {
    /// The server's address, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...
    #[arg(long, value_name = "MULTIADDR")]
    server: Multiaddr,
    /// Bytes each stream uploads.
    #[arg(long, value_name = "N")]
    upload_bytes: u64,
    /// Bytes each stream asks the server to send back.
    #[arg(long, value_name = "N")]
    download_bytes: u64,
    /// Perf streams run in parallel on the one connection.
    #[arg(long, value_name = "K", default_value_t = 1)]
    streams: usize,
    /// Print the result as one JSON line.
    #[arg(long)]
    json: bool,
    /// Time allowed to connect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = client::DEFAULT_CONNECT_TIMEOUT.as_secs())]
    connect_timeout_secs: u64,
    /// Time allowed for the transfer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = client::DEFAULT_TRANSFER_TIMEOUT.as_secs())]
    transfer_timeout_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Server(args) => serve(args).await,
        Command::Client(args) => run_client(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-perf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let config = server::Config::new(args.listen)
        .with_max_download_bytes(args.max_download_bytes)
        .with_max_upload_bytes(args.max_upload_bytes)
        .with_max_concurrent_streams(args.max_streams)
        .with_max_connections(args.max_connections)
        .with_stream_timeout(Duration::from_secs(args.stream_timeout_secs));
    let keypair = transport::keypair(args.key_seed)?;
    let server = server::Server::bind(config, keypair)?;
    server.run(|addr| println!("{addr}")).await?;
    Ok(())
}

async fn run_client(args: ClientArgs) -> anyhow::Result<()> {
    let config = client::Config::new(args.server)
        .with_upload_bytes(args.upload_bytes)
        .with_download_bytes(args.download_bytes)
        .with_streams(args.streams)
        .with_connect_timeout(Duration::from_secs(args.connect_timeout_secs))
        .with_transfer_timeout(Duration::from_secs(args.transfer_timeout_secs));
    let report = client::run(&config, transport::keypair(None)?).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).context("cannot encode the result")?
        );
    } else {
        println!(
            "{} over {}, {} stream(s): upload {} bytes in {:.3} s = {:.3} Gbit/s; \
             download {} bytes in {:.3} s = {:.3} Gbit/s",
            report.implementation,
            report.transport.name(),
            report.streams,
            report.upload_bytes,
            report.upload_s,
            report.upload_gbit_s,
            report.download_bytes,
            report.download_s,
            report.download_gbit_s,
        );
    }
    Ok(())
}
