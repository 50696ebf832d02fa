//! A running node: the network task plus, optionally, the local API.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesh_net::{MeshHandle, NetConfig};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::error::NodeError;
use crate::events::Recorder;
use crate::home::Home;

/// What a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Its home directory.
    pub home: Home,
    /// Network settings.
    pub net: NetConfig,
    /// Where to serve the local API (loopback only); `None` for no API.
    pub api: Option<SocketAddr>,
    /// Requests with the API token (the owner's) the local API serves at most
    /// ([`api::DEFAULT_API_RATE`]).
    pub api_rate: mesh_net::Rate,
    /// Requests without the token the local API serves at most, on a budget of their own
    /// ([`api::DEFAULT_UNAUTHENTICATED_RATE`]).
    pub api_unauthenticated_rate: mesh_net::Rate,
    /// Event streams and award requests the local API holds open at once
    /// ([`api::DEFAULT_MAX_STREAMS`]); past it they are refused with 503 `too_many_streams`.
    pub api_max_streams: usize,
    /// Byte budgets of what other peers can make the store keep
    /// ([`mesh_store::StoreBudget`], its defaults by default).
    pub store_budget: mesh_store::StoreBudget,
}

impl NodeConfig {
    /// A node in `home`, listening on all interfaces on a free TCP, QUIC and WebRTC-direct
    /// port, with mDNS on and no API.
    pub fn new(home: Home) -> Self {
        let listen = vec![
            "/ip4/0.0.0.0/tcp/0".parse().expect("static multiaddr"),
            "/ip4/0.0.0.0/udp/0/quic-v1"
                .parse()
                .expect("static multiaddr"),
            "/ip4/0.0.0.0/udp/0/webrtc-direct"
                .parse()
                .expect("static multiaddr"),
        ];
        Self {
            home,
            net: NetConfig::new(listen),
            api: None,
            api_rate: api::DEFAULT_API_RATE,
            api_unauthenticated_rate: api::DEFAULT_UNAUTHENTICATED_RATE,
            api_max_streams: api::DEFAULT_MAX_STREAMS,
            store_budget: mesh_store::StoreBudget::new(),
        }
    }

    /// Serves the local API on `addr`.
    pub fn with_api(mut self, addr: SocketAddr) -> Self {
        self.api = Some(addr);
        self
    }

    /// Replaces the network settings.
    pub fn with_net(mut self, net: NetConfig) -> Self {
        self.net = net;
        self
    }
}

/// Why a node's task stopped without being asked to: the node no longer works and its
/// program should end with an error (`mesh node` prints this and exits 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeFailure {
    /// The network task panicked, or ended before the node was shut down.
    #[error("the network task stopped: {0}")]
    Network(String),
    /// The local API's server panicked, or ended before the node was shut down.
    #[error("the local API stopped: {0}")]
    Api(String),
}

/// The text of a panic's payload (a `&str` or a `String`, as `panic!` makes them).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Why a task that should have run until shutdown ended, if that is a failure: a panic, a
/// cancellation, an error it returned, or an end before `stopping` was set.
fn task_outcome(
    outcome: Result<Result<(), String>, tokio::task::JoinError>,
    stopping: &AtomicBool,
) -> Option<String> {
    match outcome {
        Err(e) => Some(match e.try_into_panic() {
            Ok(payload) => format!("panicked: {}", panic_message(&*payload)),
            Err(e) => e.to_string(),
        }),
        Ok(Err(e)) => Some(e),
        Ok(Ok(())) if !stopping.load(Ordering::SeqCst) => {
            Some("ended before the node was shut down".to_owned())
        }
        Ok(Ok(())) => None,
    }
}

/// Watches `task` and records its failure in `failure` (the first failure of the node wins);
/// `result` says whether what the task returned is an error.
fn supervise<T: Send + 'static>(
    task: JoinHandle<T>,
    result: fn(T) -> Result<(), String>,
    stopping: Arc<AtomicBool>,
    failure: Arc<watch::Sender<Option<NodeFailure>>>,
    what: fn(String) -> NodeFailure,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Some(reason) = task_outcome(task.await.map(result), &stopping) {
            let f = what(reason);
            tracing::error!("{f}");
            failure.send_if_modified(|current| {
                let first = current.is_none();
                if first {
                    *current = Some(f);
                }
                first
            });
        }
    })
}

/// Set when the node shuts down or is dropped: its tasks then end without having failed.
struct Stopping(Arc<AtomicBool>);

impl Drop for Stopping {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A running node.
pub struct Node {
    handle: MeshHandle,
    home: Home,
    store: mesh_store::Store,
    api_addr: Option<SocketAddr>,
    stop_api: watch::Sender<bool>,
    api_task: Option<JoinHandle<()>>,
    /// Watches the network task: ends right after it.
    net_task: JoinHandle<()>,
    recorder: Recorder,
    /// Set when shutdown begins: a task that ends after it has not failed.
    stopping: Stopping,
    failure: Arc<watch::Sender<Option<NodeFailure>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.handle.peer_id())
            .field("api", &self.api_addr)
            .finish()
    }
}

impl Node {
    /// Loads (or creates) the identity in the home, starts the network and the API, and writes
    /// the API address to `$MESH_HOME/api` once it serves.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let home = config.home.clone();
        // The arguments are checked, and the API port taken, before anything is written to
        // the home: a refused start leaves no identity, token or store behind.
        if let Some(addr) = config.api
            && !addr.ip().is_loopback()
        {
            return Err(NodeError::ApiNotLoopback(addr));
        }
        if let Some(api) = home.read_api()
            && let Some(addr) = api.strip_prefix("http://").and_then(|a| a.parse().ok())
            && tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect::<SocketAddr>(addr),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        {
            return Err(NodeError::AlreadyRunning {
                home: home.dir().display().to_string(),
                api,
            });
        }
        let listener = match config.api {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| NodeError::ApiBind { addr, source })?;
                Some(l)
            }
            None => None,
        };
        home.create()?;
        let keypair = home.identity()?;
        let store = {
            let path = home.store_path();
            let store_config = mesh_store::StoreConfig::new().with_budget(config.store_budget);
            tokio::task::spawn_blocking(move || mesh_store::Store::open_with(&path, store_config))
                .await
                .map_err(|e| NodeError::Net(mesh_net::NetError::Setup(e.to_string())))??
        };
        let token = match listener {
            Some(_) => Some(home.token()?),
            None => None,
        };
        let mut registry = Registry::default();
        let mut net = config.net.with_store(store.clone());
        let webrtc = net.listen.iter().any(|a| {
            a.iter()
                .any(|p| matches!(p, libp2p::multiaddr::Protocol::WebRTCDirect))
        });
        if webrtc && net.webrtc_certificate.is_none() {
            // Kept in the home, so the certhash of the address survives restarts.
            let path = home.dir().join(mesh_net::webrtc::CERTIFICATE_FILE);
            net.webrtc_certificate = Some(mesh_net::webrtc::load_or_create_certificate(&path)?);
        }
        // The store and everything else the node keeps in its home: owner only.
        home.restrict()?;
        let (handle, net_task) = mesh_net::spawn(keypair, net, &mut registry)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(watch::channel(None).0);
        let net_task = supervise(
            net_task,
            |()| Ok(()),
            stopping.clone(),
            failure.clone(),
            NodeFailure::Network,
        );
        let recorder = Recorder::spawn(&handle, store.clone(), &mut registry);
        let (stop_api, stop_rx) = watch::channel(false);
        let mut api_addr = None;
        let mut api_task = None;
        if let (Some(listener), Some(token)) = (listener, token) {
            let addr = listener.local_addr().map_err(|source| NodeError::ApiBind {
                addr: config.api.unwrap_or_else(|| ([127, 0, 0, 1], 0).into()),
                source,
            })?;
            let state = ApiState {
                handle: handle.clone(),
                store: store.clone(),
                events: recorder.log(),
                token: Arc::from(token),
                registry: Arc::new(registry),
                shutdown: stop_rx.clone(),
                streams: api::StreamSlots::new(config.api_max_streams),
            };
            let app = api::router(state, config.api_rate, config.api_unauthenticated_rate);
            let mut stop = stop_rx;
            let serve = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                // Small API answers and SSE events must not wait for Nagle's algorithm.
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY on API connection");
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(|e| e.to_string())
            });
            api_task = Some(supervise(
                serve,
                |r| r,
                stopping.clone(),
                failure.clone(),
                NodeFailure::Api,
            ));
            home.write_api(&format!("http://{addr}"))?;
            tracing::info!(%addr, "local API serving");
            api_addr = Some(addr);
        }
        Ok(Self {
            handle,
            home,
            store,
            api_addr,
            stop_api,
            api_task,
            net_task,
            recorder,
            stopping: Stopping(stopping),
            failure,
        })
    }

    /// The network handle.
    pub fn handle(&self) -> &MeshHandle {
        &self.handle
    }

    /// Where the local API serves, if it does.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api_addr
    }

    /// The home directory.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The node's store.
    pub fn store(&self) -> &mesh_store::Store {
        &self.store
    }

    /// Whether the network task has ended (it only ends on shutdown or a fatal error).
    pub fn is_finished(&self) -> bool {
        self.net_task.is_finished()
    }

    /// Why the node stopped working, if one of its tasks panicked or ended on its own.
    pub fn failure(&self) -> Option<NodeFailure> {
        self.failure.borrow().clone()
    }

    /// Resolves when one of the node's tasks fails (never, for a node that works).
    pub async fn failed(&self) -> NodeFailure {
        let mut rx = self.failure.subscribe();
        loop {
            if let Some(f) = rx.borrow_and_update().clone() {
                return f;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// A receiver of the node's failure, for code that outlives a borrow of the node.
    pub fn failure_watch(&self) -> watch::Receiver<Option<NodeFailure>> {
        self.failure.subscribe()
    }

    /// Stops the API (ending event streams), then the network, then the event log recorder,
    /// and removes the API file. Returns the node's failure, if a task failed before or
    /// during the shutdown.
    pub async fn shutdown(self) -> Option<NodeFailure> {
        self.stopping.0.store(true, Ordering::SeqCst);
        let _ = self.stop_api.send(true);
        if let Some(task) = self.api_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let _ = self.handle.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.net_task).await;
        self.recorder.stop().await;
        if self.api_addr.is_some() {
            self.home.remove_api();
        }
        self.failure.borrow().clone()
    }
}
