//! What a node needs to join a fleet.

use std::time::Duration;

use crate::ClusterError;

/// A node's settings in a fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS server, such as `nats://127.0.0.1:4222`.
    pub url: String,
    /// The fleet's name: nodes of the same name share their pools. Letters,
    /// digits, `-` and `_` (it names JetStream buckets and subjects).
    pub cluster: String,
    /// This node's name, unique in the fleet (same characters).
    pub node: String,
    /// How long a node stays a member without renewing: a node that stops
    /// (killed, paused, cut off) loses its pools this long after its last
    /// renewal. Renewed every third of it.
    pub lease: Duration,
    /// How long a call may wait for the pool's owner (a forward, or a pool
    /// changing hands) before it is answered [`Error::Timeout`](workbus_core::Error::Timeout).
    pub call_timeout: Duration,
    /// How long connecting to NATS may take; also how long each of the fleet's
    /// buckets is asked for again while NATS fails to make it (a 5xx answer).
    pub connect_timeout: Duration,
}

impl ClusterConfig {
    /// A node `node` of fleet `cluster` on the NATS at `url`, with a 3 s lease
    /// and 5 s for a call.
    pub fn new(
        url: impl Into<String>,
        cluster: impl Into<String>,
        node: impl Into<String>,
    ) -> Self {
        ClusterConfig {
            url: url.into(),
            cluster: cluster.into(),
            node: node.into(),
            lease: Duration::from_secs(3),
            call_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the names and durations.
    pub fn validate(&self) -> Result<(), ClusterError> {
        for (setting, value) in [("cluster", &self.cluster), ("node", &self.node)] {
            let ok = !value.is_empty()
                && value.len() <= 64
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(ClusterError::InvalidConfig {
                    setting,
                    reason: "1 to 64 ASCII letters, digits, '-' or '_'",
                });
            }
        }
        if self.lease < Duration::from_millis(500) {
            return Err(ClusterError::InvalidConfig {
                setting: "lease",
                reason: "at least 500 ms",
            });
        }
        if self.call_timeout.is_zero() {
            return Err(ClusterError::InvalidConfig {
                setting: "call_timeout",
                reason: "more than zero",
            });
        }
        Ok(())
    }
}
