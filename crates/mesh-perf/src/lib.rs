//! Transport throughput of MESH's libp2p stack, measured with the libp2p perf protocol
//! (`/perf/1.0.0`, <https://github.com/libp2p/specs/blob/master/perf/perf.md>).
//!
//! - [`protocol`]: the wire format, both sides of one perf stream, and its limits.
//! - [`transport`]: the swarm, with the same transports as a MESH node (TCP + Noise + Yamux,
//!   QUIC).
//! - [`server`]: listens and serves perf streams until stopped, each in its own task.
//! - [`client`]: connects, opens one or more perf streams with [`libp2p_stream`], and times
//!   upload and download.
//!
//! The `mesh-perf` binary wraps the server and the client; `scripts/bench-transport` compares
//! its figures with raw TCP on loopback (iperf3).

pub mod client;
mod inbound;
pub mod protocol;
pub mod server;
pub mod transport;
