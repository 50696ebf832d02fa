//! The commands.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use mesh_core::Budget;
use mesh_core::intent::MAX_PAYLOAD_BYTES;
use mesh_net::{AgentInfo, NodeInfo, PeerInfo, PublishOutcome};
use mesh_node::home::{KeyState, Passphrase};
use mesh_node::views::{BudgetView, IntentView, PayloadView, PublishIntentRequest};
use mesh_node::{Home, HomeError, Node, NodeConfig};

use crate::args::{
    AgentsCommand, Cli, Command, IntentsCommand, KeyCommand, NodeArgs, PassphraseArgs, PublishArgs,
    StoreCommand,
};
use crate::client::ApiClient;
use crate::sse;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(cli.home.clone())?;
    match cli.command {
        Command::Init {
            force,
            encrypt,
            passphrase_file,
        } => init(home, force, encrypt, passphrase_file.as_deref()),
        Command::Node(args) => node(home, args).await,
        Command::Key(KeyCommand::Encrypt(args)) => key_encrypt(home, &args),
        Command::Key(KeyCommand::Decrypt(args)) => key_decrypt(home, &args),
        Command::Id { json } => id(&home, json).await,
        Command::Peers { json } => peers(&home, json).await,
        Command::Doctor { json } => crate::doctor::run(&home, json).await,
        Command::Reputation { peer, json } => crate::reputation::run(&home, peer, json).await,
        Command::Intents(IntentsCommand::Publish(args)) => publish(&home, args).await,
        Command::Intents(IntentsCommand::Watch { capabilities, json }) => {
            let names: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
            watch(&home, &names, json).await
        }
        Command::Intents(lifecycle) => crate::intents::run(&home, lifecycle).await,
        Command::Agents(AgentsCommand::Discover {
            capabilities,
            min_reputation,
            limit,
            json,
        }) => {
            let names: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
            discover(&home, &names, min_reputation, limit, json).await
        }
        Command::Negotiations(command) => crate::negotiations::run(&home, command).await,
        Command::Store(StoreCommand::Check) => store_check(&home),
        Command::Openapi => {
            // A closed pipe (`mesh openapi | head`) is not an error.
            let _ = writeln!(
                std::io::stdout(),
                "{:#}",
                mesh_node::api::openapi::document()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { keep_running } => crate::demo::run(keep_running).await,
    }
}

fn store_check(home: &Home) -> anyhow::Result<ExitCode> {
    let path = home.store_path();
    if !path.exists() {
        anyhow::bail!(
            "no store at {}: a node creates it on its first start",
            path.display()
        );
    }
    // Checked in memory: the file is never written, however damaged it is.
    let report = mesh_store::Store::check_file(&path)?;
    if report.is_clean() {
        println!(
            "store {} is consistent: {} entries checked",
            path.display(),
            report.entries
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("store {} is INCONSISTENT:", path.display());
        for p in &report.problems {
            eprintln!("  {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// Whether the passphrase is one to open a key with, or a new one to encrypt a key with.
#[derive(Clone, Copy)]
enum Ask {
    Existing,
    New,
}

/// The passphrase from `--passphrase-file`, else `MESH_KEY_PASSPHRASE`, else the terminal when
/// standard input is one.
fn passphrase(home: &Home, args: &PassphraseArgs, ask: Ask) -> Result<Passphrase, HomeError> {
    passphrase_from(home, args.passphrase_file.as_deref(), ask)
}

fn passphrase_from(home: &Home, file: Option<&Path>, ask: Ask) -> Result<Passphrase, HomeError> {
    let path = home.identity_path();
    if let Some(file) = file {
        return Passphrase::from_file(file);
    }
    if let Some(p) = Passphrase::from_env() {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(HomeError::PassphraseNeeded { path });
    }
    match ask {
        Ask::Existing => Passphrase::prompt(&path),
        Ask::New => Passphrase::prompt_new(&path),
    }
}

fn init(
    home: Home,
    force: bool,
    encrypt: bool,
    passphrase_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let path = home.identity_path();
    if path.exists() && !force {
        return Err(HomeError::AlreadyInitialised { path }.into());
    }
    let home = if encrypt {
        let p = passphrase_from(&home, passphrase_file, Ask::New)?;
        home.with_passphrase(p)
    } else {
        home
    };
    let key = home.init(force)?;
    println!(
        "Created identity {} ({})",
        key.public().to_peer_id(),
        protection(&home)?
    );
    println!("Home: {}", home.dir().display());
    println!("Next: mesh --home {} node", home.dir().display());
    Ok(ExitCode::SUCCESS)
}

/// How the identity key is stored, for people.
fn protection(home: &Home) -> Result<String, HomeError> {
    Ok(match home.key_state()? {
        KeyState::Encrypted(kdf) => format!("encrypted: {kdf}, XChaCha20-Poly1305"),
        KeyState::Plain => "plain text, mode 0600".to_owned(),
        KeyState::Missing => "missing".to_owned(),
    })
}

fn key_encrypt(home: Home, args: &PassphraseArgs) -> anyhow::Result<ExitCode> {
    let path = home.identity_path();
    match home.key_state()? {
        KeyState::Missing => return Err(HomeError::NoIdentity { path }.into()),
        KeyState::Encrypted(_) => return Err(HomeError::AlreadyEncrypted { path }.into()),
        KeyState::Plain => {}
    }
    let p = passphrase(&home, args, Ask::New)?;
    let home = home.with_passphrase(p);
    let key = home.encrypt_identity()?;
    println!(
        "Encrypted identity {} in {} ({})",
        key.public().to_peer_id(),
        path.display(),
        protection(&home)?
    );
    Ok(ExitCode::SUCCESS)
}

fn key_decrypt(home: Home, args: &PassphraseArgs) -> anyhow::Result<ExitCode> {
    let path = home.identity_path();
    match home.key_state()? {
        KeyState::Missing => return Err(HomeError::NoIdentity { path }.into()),
        KeyState::Plain => return Err(HomeError::NotEncrypted { path }.into()),
        KeyState::Encrypted(_) => {}
    }
    let p = passphrase(&home, args, Ask::Existing)?;
    let home = home.with_passphrase(p);
    let key = home.decrypt_identity()?;
    println!(
        "Decrypted identity {} in {}: it is stored in plain text (mode 0600) again",
        key.public().to_peer_id(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn node(home: Home, args: NodeArgs) -> anyhow::Result<ExitCode> {
    record_panics();
    // Flags that can be wrong are refused before the passphrase is asked for.
    let reputation = crate::reputation::config(&args.reputation)?;
    let home = match home.key_state()? {
        KeyState::Encrypted(_) => {
            let p = passphrase(&home, &args.passphrase, Ask::Existing)?;
            home.with_passphrase(p)
        }
        KeyState::Missing | KeyState::Plain => home,
    };
    let mut config = NodeConfig::new(home).with_api(args.api);
    config.net.reputation = reputation;
    if !args.listen.is_empty() {
        config.net.listen = args.listen;
    }
    config.net.bootstrap = args.bootstrap;
    config.net.capabilities = args.capabilities;
    config.net.mdns = !args.no_mdns;
    config.net.agent_name = args.name.unwrap_or_default();
    config.net.limits.intents_per_publisher =
        mesh_net::Rate::per(args.intent_quota, Duration::from_secs(60));
    config.net.proof_of_work_bits = args.proof_of_work_bits;
    crate::doctor::apply(&mut config.net, &args.reach);
    // Caught before the node starts (but after any passphrase prompt, which Ctrl-C still
    // ends): a signal that arrives while it starts, say from a supervisor that stops it as
    // soon as its API file appears, stops it cleanly instead of killing it.
    let signals = StopSignals::catch()?;
    let node = Node::start(config).await?;
    let handle = node.handle().clone();
    let mut info = handle.info().await?;
    for _ in 0..40 {
        if !info.listen_addrs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        info = handle.info().await?;
    }
    println!("MESH node {}", info.peer_id);
    for addr in &info.listen_addrs {
        println!("  listening on {addr}");
    }
    if !info.capabilities.is_empty() {
        println!("  capabilities: {}", info.capabilities.join(", "));
    }
    if let Some(api) = node.api_addr() {
        println!(
            "  local API: http://{api}  (metrics at /metrics; every endpoint but /v1/health needs the token in {})",
            node.home().token_path().display()
        );
    }
    println!("Press Ctrl-C to stop.");
    let _ = std::io::stdout().flush();
    let stop = wait_for_stop(&node, signals, args.exit_on_stdin_close).await;
    tracing::info!(reason = %stop, "stopping");
    let failure = node.shutdown().await;
    match (stop, failure) {
        (Stop::Failed(reason), _) => bail!("{reason}"),
        (Stop::Asked(_), Some(f)) => bail!("{}", with_panic_location(&f)),
        (Stop::Asked(_), None) => Ok(ExitCode::SUCCESS),
    }
}

/// The first panic of the process, with where it happened, as [`record_panics`] saw it.
static FIRST_PANIC: std::sync::OnceLock<(String, Option<String>)> = std::sync::OnceLock::new();

/// Records the first panic of any thread or task of the process, so that `mesh node` and
/// `mesh demo` end with an error that names it instead of running on half broken. The panic
/// is logged on one line; with `RUST_BACKTRACE` set the default report (and backtrace) follows.
pub(crate) fn record_panics() {
    let default = std::panic::take_hook();
    let report = std::env::var_os("RUST_BACKTRACE").is_some();
    std::panic::set_hook(Box::new(move |info| {
        let message = mesh_node::panic_message(info.payload());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(
            thread = std::thread::current().name().unwrap_or("unnamed"),
            at = place.as_deref().unwrap_or("unknown"),
            "panic: {message}"
        );
        let _ = FIRST_PANIC.set((message, place));
        if report {
            default(info);
        }
    }));
}

/// The failure, with where its panic happened when the panic hook saw it.
pub(crate) fn with_panic_location(failure: &mesh_node::NodeFailure) -> String {
    let text = failure.to_string();
    match FIRST_PANIC.get() {
        Some((message, Some(place))) if text.ends_with(message.as_str()) => {
            format!("{text} (at {place})")
        }
        _ => text,
    }
}

/// A panic recorded by [`record_panics`] that no node task reported (a thread or task of its
/// own), as a reason to stop.
pub(crate) fn stray_panic() -> Option<String> {
    FIRST_PANIC.get().map(|(message, place)| match place {
        Some(place) => format!("a task panicked: {message} (at {place})"),
        None => format!("a task panicked: {message}"),
    })
}

/// Why `mesh node` stops.
enum Stop {
    /// Its owner asked (a signal, or standard input closed).
    Asked(&'static str),
    /// A task of the node failed: the one-line reason.
    Failed(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Asked(why) => f.write_str(why),
            Stop::Failed(why) => f.write_str(why),
        }
    }
}

/// Resolves when standard input reaches its end (or fails). The read runs on a plain thread,
/// which does not hold the runtime up when the node stops for another reason.
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = rx.await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch standard input; ignoring --exit-on-stdin-close");
            std::future::pending::<()>().await;
        }
    }
}

/// The signals that ask `mesh node` to stop, caught from when they are created on: SIGTERM
/// and SIGINT (Ctrl-C).
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn catch() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
        })
    }
}

async fn wait_for_stop(node: &Node, mut signals: StopSignals, on_stdin_close: bool) -> Stop {
    let stdin = async {
        if on_stdin_close {
            stdin_closed().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(stdin);
    let failed = node.failed();
    tokio::pin!(failed);
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = signals.interrupt.recv() => return Stop::Asked("interrupt"),
            _ = signals.terminate.recv() => return Stop::Asked("terminate"),
            _ = &mut stdin => return Stop::Asked("standard input closed"),
            f = &mut failed => return Stop::Failed(with_panic_location(&f)),
            _ = poll.tick() => {
                // The node reports its own tasks; a panic elsewhere (a thread of the store
                // writer, a connection's task) is caught by the hook.
                if let Some(f) = node.failure() {
                    return Stop::Failed(with_panic_location(&f));
                }
                if let Some(reason) = stray_panic() {
                    return Stop::Failed(reason);
                }
                if node.is_finished() {
                    return Stop::Failed("the network task stopped".to_owned());
                }
            }
        }
    }
}

async fn id(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let info: NodeInfo = ApiClient::from_home(home)?.get("/v1/info").await?;
    if json {
        let out = serde_json::json!({
            "peer_id": info.peer_id,
            "listen_addrs": info.listen_addrs,
        });
        println!("{out}");
    } else {
        println!("{}", info.peer_id);
        for a in &info.listen_addrs {
            println!("  {a}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn peers(home: &Home, json: bool) -> anyhow::Result<ExitCode> {
    let peers: Vec<PeerInfo> = ApiClient::from_home(home)?.get("/v1/peers").await?;
    if json {
        println!("{}", serde_json::to_string(&peers)?);
        return Ok(ExitCode::SUCCESS);
    }
    if peers.is_empty() {
        println!("No peers connected.");
    }
    for p in &peers {
        let rtt = p
            .rtt_ms
            .map(|r| format!("{r:.1} ms"))
            .unwrap_or_else(|| "-".into());
        let addr = p.addresses.first().cloned().unwrap_or_default();
        println!(
            "{}  rtt {rtt}  reputation {:.2}  {addr}",
            p.peer_id, p.reputation
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn publish(home: &Home, args: PublishArgs) -> anyhow::Result<ExitCode> {
    let budget = args
        .budget
        .as_deref()
        .map(|b| Budget::parse(b, "USD"))
        .transpose()?;
    let payload = match &args.payload_file {
        Some(path) => {
            let size = std::fs::metadata(path)
                .with_context(|| format!("cannot read payload file {}", path.display()))?
                .len();
            if size > MAX_PAYLOAD_BYTES as u64 {
                bail!(
                    "payload file {} is {size} bytes: at most {MAX_PAYLOAD_BYTES} travel inline; publish a URL to the data instead",
                    path.display()
                );
            }
            let data = std::fs::read(path)
                .with_context(|| format!("cannot read payload file {}", path.display()))?;
            use base64::Engine as _;
            Some(PayloadView {
                content_type: args.content_type.clone(),
                data_base64: base64::engine::general_purpose::STANDARD.encode(data),
            })
        }
        None => None,
    };
    let request = PublishIntentRequest {
        capabilities: args.capabilities.iter().map(|c| c.to_string()).collect(),
        title: args.title,
        description: args.description,
        budget: budget.map(|b| BudgetView {
            amount: b.amount,
            currency: b.currency,
        }),
        ttl_secs: args.ttl.map(|d| d.as_secs().max(1)),
        deadline_ms: None,
        payload,
        min_reputation: None,
    };
    let outcome: PublishOutcome = ApiClient::from_home(home)?
        .post("/v1/intents", &request)
        .await?;
    for t in &outcome.topics {
        if t.peers == 0 {
            eprintln!(
                "warning: no subscriber of {} was reachable yet; agents that join later will not see this intent",
                t.capability
            );
        }
    }
    println!("{}", outcome.id);
    Ok(ExitCode::SUCCESS)
}

async fn watch(home: &Home, capabilities: &[String], json: bool) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_home(home)?;
    let path = if capabilities.is_empty() {
        "/v1/intents/stream".to_owned()
    } else {
        format!("/v1/intents/stream?capabilities={}", capabilities.join(","))
    };
    let response = client.stream(&path).await?;
    if !json {
        eprintln!("Watching intents (Ctrl-C to stop)...");
    }
    sse::for_each_event(response, |event| {
        if event.event != "intent" {
            return Ok(());
        }
        let view: IntentView = serde_json::from_str(&event.data)
            .with_context(|| format!("malformed intent event: {}", event.data))?;
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", serde_json::to_string(&view)?)?;
        } else {
            let budget = view
                .budget
                .as_ref()
                .map(|b| format!(" budget {} {}", b.amount, b.currency))
                .unwrap_or_default();
            writeln!(
                out,
                "{}  [{}]{budget}  from {}  id {}",
                view.title,
                view.capabilities.join(", "),
                view.publisher,
                view.id
            )?;
        }
        out.flush()?;
        Ok(())
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn discover(
    home: &Home,
    capabilities: &[String],
    min_reputation: f64,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/v1/agents?capabilities={}&min_reputation={min_reputation}&limit={limit}",
        capabilities.join(",")
    );
    let agents: Vec<AgentInfo> = ApiClient::from_home(home)?.get(&path).await?;
    if json {
        println!("{}", serde_json::to_string(&agents)?);
        return Ok(ExitCode::SUCCESS);
    }
    if agents.is_empty() {
        println!("No agent found for {}.", capabilities.join(" + "));
    }
    for a in &agents {
        let name = if a.name.is_empty() { "-" } else { &a.name };
        println!(
            "{}  {name}  [{}]  reputation {:.2}  load {:.2}",
            a.peer_id,
            a.capabilities.join(", "),
            a.reputation,
            a.load
        );
    }
    Ok(ExitCode::SUCCESS)
}
