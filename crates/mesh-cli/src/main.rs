//! `mesh`: run a MESH node, publish and watch intents, discover agents, play the demo.
//!
//! Every command except `init`, `node`, `key` and `demo` is a thin client of a running node's
//! local API, found through `$MESH_HOME/api` and authenticated with `$MESH_HOME/api-token`.
//! `init`, `node` and `key` read the identity key; an encrypted one is opened with the passphrase
//! from `--passphrase-file`, `MESH_KEY_PASSPHRASE` or the terminal.

mod args;
mod client;
mod commands;
mod demo;
mod doctor;
mod intents;
mod negotiations;
mod reputation;
mod sse;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(
        cli.verbose,
        cli.quiet,
        matches!(cli.command, Command::Node(_)),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, quiet: bool, is_node: bool) {
    let default = match (quiet, verbose, is_node) {
        (true, _, _) => "error",
        (false, 0, true) => "info",
        (false, 0, false) => "warn",
        (false, 1, _) => "info,mesh_net=debug,mesh_node=debug",
        (false, _, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
