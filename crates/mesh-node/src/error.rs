use std::net::SocketAddr;

use crate::home::HomeError;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The home directory, identity or token could not be used.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The store could not be opened (corrupt, foreign, too new, locked or unreadable); it is
    /// left untouched.
    #[error(transparent)]
    Store(#[from] mesh_store::StoreError),
    /// The network layer failed to start.
    #[error(transparent)]
    Net(#[from] mesh_net::NetError),
    /// The local API address is not on loopback.
    #[error(
        "the local API must listen on 127.0.0.1 or ::1, not {0}: it is a control interface, not a public one"
    )]
    ApiNotLoopback(SocketAddr),
    /// The local API address could not be bound.
    #[error(
        "cannot serve the local API on {addr}: {source}; pick another with --api 127.0.0.1:PORT (port 0 picks a free one)"
    )]
    ApiBind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Another node already serves this home.
    #[error(
        "a MESH node is already running with home {home} (API at {api}); stop it first or use another --home"
    )]
    AlreadyRunning {
        /// The home.
        home: String,
        /// Its API address.
        api: String,
    },
}
