//! Why a node cannot join its fleet.

/// Why [`Node::join`](crate::Node::join) failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A setting is out of range.
    #[error("cluster setting {setting}: {reason}")]
    InvalidConfig {
        /// The setting.
        setting: &'static str,
        /// What it must be.
        reason: &'static str,
    },
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// A JetStream bucket or the call subject could not be set up.
    #[error("cannot set up {what} on NATS: {reason}")]
    Setup {
        /// Which bucket or subject.
        what: String,
        /// Why.
        reason: String,
    },
    /// Another live node of the fleet has this node's name.
    #[error("node {0:?} is already a live member of the fleet: give each node its own name")]
    NameTaken(String),
    /// The bus could not be built.
    #[error(transparent)]
    Bus(#[from] workbus_core::Error),
}
