//! The MESH node runtime: a node's home directory (identity, API token), the network task, the
//! local HTTP API with its Server-Sent Event stream, and Prometheus metrics.
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_node::NodeError> {
//! use mesh_node::{Home, Node, NodeConfig};
//! let home = Home::new("/tmp/mesh-a");
//! let config = NodeConfig::new(home).with_api("127.0.0.1:0".parse().unwrap());
//! let node = Node::start(config).await?;
//! println!("API at {:?}", node.api_addr());
//! node.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

pub mod api;
mod error;
pub mod events;
pub mod home;
mod node;
pub mod views;

pub use error::NodeError;
pub use home::{Home, HomeError};
pub use node::{Node, NodeConfig, NodeFailure, panic_message};
