//! The perf client: connects to a server, runs perf streams, and times them.
//!
//! Timing follows the perf specification's clients: the connection is set up and the streams
//! are opened first, outside the timing. **Upload** is from just before the first upload byte is
//! written until every stream has sent its last byte and closed its write side. **Download** is
//! from then until every stream has received its last byte and the end of the stream. With
//! several streams, every stream uploads at once, then every stream downloads at once.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::try_join_all;
use libp2p::identity::Keypair;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, Swarm, connection_limits};
use serde::Serialize;

use crate::protocol::{self, PROTOCOL, ProtocolError};
use crate::transport::{self, SetupError, Transport};

/// Default time to establish the connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time for the whole transfer, upload and download.
pub const DEFAULT_TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// The name of this implementation in results.
pub const IMPLEMENTATION: &str = "mesh";

/// Client configuration: the server, how much to move, and timeouts.
#[derive(Debug, Clone)]
pub struct Config {
    server: Multiaddr,
    upload_bytes: u64,
    download_bytes: u64,
    streams: usize,
    connect_timeout: Duration,
    transfer_timeout: Duration,
}

impl Config {
    /// A run against `server` (a TCP or QUIC v1 multiaddr, with or without `/p2p/<peer id>`)
    /// that moves nothing on one stream, until sizes are set.
    pub fn new(server: Multiaddr) -> Self {
        Self {
            server,
            upload_bytes: 0,
            download_bytes: 0,
            streams: 1,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            transfer_timeout: DEFAULT_TRANSFER_TIMEOUT,
        }
    }

    /// Sets the bytes each stream uploads.
    pub fn with_upload_bytes(mut self, bytes: u64) -> Self {
        self.upload_bytes = bytes;
        self
    }

    /// Sets the bytes each stream asks the server to send back.
    pub fn with_download_bytes(mut self, bytes: u64) -> Self {
        self.download_bytes = bytes;
        self
    }

    /// Sets the number of perf streams run in parallel on the one connection.
    pub fn with_streams(mut self, streams: usize) -> Self {
        self.streams = streams;
        self
    }

    /// Sets the time allowed to establish the connection.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the time allowed for the transfer, upload and download together.
    pub fn with_transfer_timeout(mut self, timeout: Duration) -> Self {
        self.transfer_timeout = timeout;
        self
    }
}

/// The result of one run, in the JSON shape shared with the other perf implementations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Which implementation ran: `mesh`.
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    /// The transport.
    pub transport: Transport,
    /// Bytes uploaded, all streams together.
    pub upload_bytes: u64,
    /// Bytes downloaded, all streams together.
    pub download_bytes: u64,
    /// Upload time in seconds.
    pub upload_s: f64,
    /// Download time in seconds.
    pub download_s: f64,
    /// Upload throughput in Gbit/s (10⁹ bits per second).
    pub upload_gbit_s: f64,
    /// Download throughput in Gbit/s.
    pub download_gbit_s: f64,
    /// Number of parallel streams.
    pub streams: usize,
}

impl Report {
    fn new(
        transport: Transport,
        streams: usize,
        upload_bytes: u64,
        download_bytes: u64,
        upload: Duration,
        download: Duration,
    ) -> Self {
        Self {
            implementation: IMPLEMENTATION,
            transport,
            upload_bytes,
            download_bytes,
            upload_s: upload.as_secs_f64(),
            download_s: download.as_secs_f64(),
            upload_gbit_s: gbit_per_s(upload_bytes, upload),
            download_gbit_s: gbit_per_s(download_bytes, download),
            streams,
        }
    }
}

/// Throughput in Gbit/s of `bytes` moved in `time`; zero when nothing was moved.
pub fn gbit_per_s(bytes: u64, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if bytes == 0 || secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / secs / 1e9
}

/// The behaviour of the client's swarm: perf streams are opened with [`libp2p_stream`].
#[derive(NetworkBehaviour)]
struct ClientBehaviour {
    limits: connection_limits::Behaviour,
    stream: libp2p_stream::Behaviour,
}

/// Errors of a client run.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server address is neither TCP nor QUIC v1.
    #[error(
        "{0} is not a TCP or QUIC v1 address (e.g. /ip4/127.0.0.1/tcp/4001 or /ip4/127.0.0.1/udp/4001/quic-v1)"
    )]
    UnsupportedAddress(Multiaddr),
    /// Zero streams were asked for.
    #[error("at least one stream is needed")]
    NoStreams,
    /// The swarm could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The connection failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The server address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The connection was not established in time.
    #[error("no connection to {addr} after {timeout:?}; is a perf server listening there?")]
    ConnectTimeout {
        /// The server address.
        addr: Multiaddr,
        /// The time allowed.
        timeout: Duration,
    },
    /// The server did not accept a perf stream.
    #[error("cannot open a {PROTOCOL} stream to {peer}: {reason}")]
    OpenStream {
        /// The server.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A perf stream failed.
    #[error(
        "{0} (a server ends or resets a stream past its limits of size, time or streams at \
         once, and logs why)"
    )]
    Stream(ProtocolError),
    /// The transfer did not finish in time.
    #[error("transfer did not finish within {0:?}")]
    TransferTimeout(Duration),
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        Self::Stream(e)
    }
}

/// Connects to the server of `config` with `keypair`, runs the perf streams and reports.
pub async fn run(config: &Config, keypair: Keypair) -> Result<Report, ClientError> {
    let transport = Transport::of(&config.server)
        .ok_or_else(|| ClientError::UnsupportedAddress(config.server.clone()))?;
    if config.streams == 0 {
        return Err(ClientError::NoStreams);
    }
    let behaviour = ClientBehaviour {
        limits: transport::connection_limits(4),
        stream: libp2p_stream::Behaviour::new(),
    };
    let mut swarm = transport::build_swarm(keypair, behaviour, Duration::from_secs(10))?;
    let peer = connect(&mut swarm, config).await?;

    let mut control = swarm.behaviour().stream.new_control();
    // The swarm must be polled for the streams to move; it stops with the run.
    let driver = tokio::spawn(async move {
        loop {
            if let SwarmEvent::ConnectionClosed { cause, .. } = swarm.select_next_some().await {
                tracing::debug!(?cause, "connection closed");
            }
        }
    });
    let result = transfer(&mut control, peer, transport, config).await;
    driver.abort();
    result
}

/// Dials the server and waits until the connection is established.
async fn connect(
    swarm: &mut Swarm<ClientBehaviour>,
    config: &Config,
) -> Result<PeerId, ClientError> {
    let addr = config.server.clone();
    let connect_error = |reason: String| ClientError::Connect {
        addr: addr.clone(),
        reason,
    };
    swarm
        .dial(addr.clone())
        .map_err(|e| connect_error(e.to_string()))?;
    let established = async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => return Ok(peer_id),
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Err(connect_error(error.to_string()));
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(config.connect_timeout, established)
        .await
        .map_err(|_| ClientError::ConnectTimeout {
            addr: addr.clone(),
            timeout: config.connect_timeout,
        })?
}

/// Opens the streams, then times the upload and the download.
async fn transfer(
    control: &mut libp2p_stream::Control,
    peer: PeerId,
    transport: Transport,
    config: &Config,
) -> Result<Report, ClientError> {
    let mut streams: Vec<Stream> = Vec::with_capacity(config.streams);
    for _ in 0..config.streams {
        let stream =
            control
                .open_stream(peer, PROTOCOL)
                .await
                .map_err(|e| ClientError::OpenStream {
                    peer,
                    reason: e.to_string(),
                })?;
        streams.push(stream);
    }
    let (up, down) = (config.upload_bytes, config.download_bytes);
    let timed = async {
        let start = Instant::now();
        try_join_all(
            streams
                .iter_mut()
                .map(|s| protocol::client_upload(s, up, down)),
        )
        .await?;
        let upload = start.elapsed();
        let start = Instant::now();
        try_join_all(
            streams
                .iter_mut()
                .map(|s| protocol::client_download(s, down)),
        )
        .await?;
        Ok::<_, ProtocolError>((upload, start.elapsed()))
    };
    let (upload, download) = tokio::time::timeout(config.transfer_timeout, timed)
        .await
        .map_err(|_| ClientError::TransferTimeout(config.transfer_timeout))??;
    let n = config.streams as u64;
    Ok(Report::new(
        transport,
        config.streams,
        up * n,
        down * n,
        upload,
        download,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn throughput_in_gbit_per_s() {
        assert_eq!(gbit_per_s(125_000_000, Duration::from_secs(1)), 1.0);
        assert_eq!(gbit_per_s(0, Duration::from_secs(1)), 0.0);
        assert_eq!(gbit_per_s(10, Duration::ZERO), 0.0);
    }

    #[test]
    fn report_has_the_shared_json_shape() {
        let report = Report::new(
            Transport::Quic,
            2,
            250_000_000,
            125_000_000,
            Duration::from_secs(2),
            Duration::from_millis(500),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["impl"], "mesh");
        assert_eq!(json["transport"], "quic");
        assert_eq!(json["upload_bytes"], 250_000_000);
        assert_eq!(json["download_bytes"], 125_000_000);
        assert_eq!(json["upload_s"], 2.0);
        assert_eq!(json["download_s"], 0.5);
        assert_eq!(json["upload_gbit_s"], 1.0);
        assert_eq!(json["download_gbit_s"], 2.0);
        assert_eq!(json["streams"], 2);
    }

    #[tokio::test]
    async fn refuses_an_address_that_is_not_tcp_or_quic() {
        let config = Config::new("/ip4/127.0.0.1/udp/4001".parse().unwrap());
        let keypair = transport::keypair(None).unwrap();
        let err = run(&config, keypair).await.unwrap_err();
        assert!(matches!(err, ClientError::UnsupportedAddress(_)));
    }
}
