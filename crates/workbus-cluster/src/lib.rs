//! One fleet of workbus nodes on NATS JetStream: any node serves any pool,
//! each pool owned by exactly one live node, which runs its actors.
//!
//! ## Membership
//!
//! Every node renews a key in the JetStream KV bucket `workbus-<cluster>-nodes`,
//! whose entries expire after the [lease](ClusterConfig::lease); the live
//! nodes are the keys present, listed every quarter of the lease.
//!
//! ## Ownership
//!
//! A pool's owner is the live node with the highest hash of (node, pool name)
//! (rendezvous hashing): every node computes the same owner from the same
//! members, a node that leaves moves only its own pools, and one that joins
//! takes only the pools it now wins. The owner holds the pool (its actors run
//! there) once it has *claimed* its document in the bucket
//! `workbus-<cluster>-pools`: a compare-and-set on the document's revision
//! that names it the holder. A node hands a pool over by writing its last
//! heartbeat times and marking the document free; a node that died is
//! passed over once its lease is gone.
//!
//! ## Fencing
//!
//! Every write of a pool's state carries the revision the writer last saw
//! ([`KvStore`]). A claim moves the revision on, so a node that lost a pool
//! (paused past its lease, cut off) cannot overwrite the new owner's state:
//! its write is refused, and its bus drops that change and its events and
//! lets the pool go.
//!
//! ## Calls
//!
//! The [`Bus`](workbus_core::Bus) of a node is given a router: a call for a
//! pool the node does not hold goes to the owner over NATS request-reply
//! and the answer (or the error) comes back as it was there. Lists read the
//! fleet's pools from a watch on the pools bucket, then each pool where it lives.
//!
//! ## Work that runs once
//!
//! What must happen once in the fleet (evaluating the automations) is done by
//! the node that holds a lease in the bucket `workbus-<cluster>-leaders`
//! ([`Node::lead`], [`Leadership`]); the automations and their blocks live in
//! the bucket `workbus-<cluster>-automations` ([`KvTables`]), where the next
//! leader finds them.
//!
//! # Examples
//!
//! ```no_run
//! use workbus_cluster::{ClusterConfig, Node};
//! use workbus_core::{Bus, CreatePool};
//!
//! # actix::System::new().block_on(async {
//! let config = ClusterConfig::new("nats://127.0.0.1:4222", "prod", "node-a");
//! let node = Node::join(config, Bus::builder()).await.unwrap();
//! node.bus().create_pool(CreatePool::new("etl", "process")).await.unwrap();
//! node.leave().await;
//! # });
//! ```
#![warn(missing_docs)]

mod config;
mod doc;
mod error;
mod lead;
mod members;
mod names;
mod node;
mod router;
mod stats;
mod store;
mod tables;
mod view;

pub use config::ClusterConfig;
pub use error::ClusterError;
pub use lead::{Leader, Leadership};
pub use node::Node;
pub use stats::ClusterStats;
pub use store::KvStore;
pub use tables::{KvTables, TablesError};
