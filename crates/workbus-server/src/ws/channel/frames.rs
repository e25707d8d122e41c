//! The worker channel's frames, as Prefect 3.9.1 defines them in
//! `prefect/client/schemas/worker_channel.py`: strict (an unknown field is a
//! protocol error, as pydantic's `extra="forbid"` makes it), tagged by `type`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;
use workbus_core::Timestamp;

use crate::response::PoolResponse;

/// The one version of the protocol.
pub(crate) const VERSION: &str = "work_pool_worker_channel.v1";
/// Heartbeats over the channel (required).
pub(crate) const HEARTBEAT_CAPABILITY: &str = "worker_heartbeat.v1";
/// Pool snapshots pushed to the worker (required).
pub(crate) const SNAPSHOT_CAPABILITY: &str = "work_pool_snapshot.v1";
/// What a worker must ask for.
pub(crate) const REQUIRED: [&str; 2] = [HEARTBEAT_CAPABILITY, SNAPSHOT_CAPABILITY];
/// Cleanup delivery: optional, and declined here (there are no flow runs to clean up).
pub(crate) const CLEANUP_CAPABILITY: &str = "cleanup_delivery.v1";

/// Why the server closes a channel: Prefect's `WorkerChannelCloseReason`. The
/// worker reads the close frame's reason text to decide whether to retry, so
/// the text is exactly Prefect's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The auth message was missing or wrong (1008, final).
    AuthenticationFailed,
    /// The pool or a named queue does not exist, the pool was deleted, or it
    /// may not be created (1008, final).
    AuthorizationFailed,
    /// No version in common (1008, final).
    UnsupportedVersion,
    /// A frame that is not JSON, not valid, or not expected (1002, final).
    ProtocolError,
    /// A heartbeat could not be recorded (1011, retried).
    HeartbeatPersistenceFailed,
    /// The server is shutting down or could not answer (1011, retried).
    TransientServerError,
}

impl CloseReason {
    /// The websocket close code of Prefect's close policy.
    pub(crate) fn code(self) -> u16 {
        match self {
            CloseReason::AuthenticationFailed
            | CloseReason::AuthorizationFailed
            | CloseReason::UnsupportedVersion => 1008,
            CloseReason::ProtocolError => 1002,
            CloseReason::HeartbeatPersistenceFailed | CloseReason::TransientServerError => 1011,
        }
    }

    /// The reason text of the close frame.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CloseReason::AuthenticationFailed => "authentication_failed",
            CloseReason::AuthorizationFailed => "authorization_failed",
            CloseReason::UnsupportedVersion => "unsupported_version",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::HeartbeatPersistenceFailed => "heartbeat_persistence_failed",
            CloseReason::TransientServerError => "transient_server_error",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string of at least one character (pydantic's `min_length=1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct NonEmpty(pub(crate) String);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom(
                "string should have at least 1 character",
            ));
        }
        Ok(NonEmpty(s))
    }
}

/// An integer of at least 1 (pydantic's `PositiveInteger`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct Positive(pub(crate) u32);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u32::deserialize(d)? {
            0 => Err(serde::de::Error::custom("input should be greater than 0")),
            n => Ok(Positive(n)),
        }
    }
}

/// The cleanup kinds Prefect names; a worker may list them only with `cleanup_delivery.v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(crate) enum CleanupKind {
    /// A cancelling run that timed out.
    #[serde(rename = "cancelling_timeout_teardown.v1")]
    CancellingTimeout,
    /// A claim that was never started.
    #[serde(rename = "pending_claim_teardown.v1")]
    PendingClaim,
}

/// `worker.hello.v1`'s payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hello {
    pub(crate) consumer_id: Uuid,
    pub(crate) worker_name: NonEmpty,
    pub(crate) worker_type: NonEmpty,
    pub(crate) heartbeat_interval_seconds: Positive,
    pub(crate) supported_channel_versions: Vec<NonEmpty>,
    pub(crate) requested_capabilities: Vec<NonEmpty>,
    #[serde(default)]
    pub(crate) work_queue_names: Vec<NonEmpty>,
    #[serde(default)]
    pub(crate) handled_cleanup_kinds: Vec<CleanupKind>,
    #[serde(default)]
    pub(crate) max_cleanup_concurrency: u32,
    #[serde(default)]
    pub(crate) create_pool_if_not_found: bool,
    #[serde(default)]
    pub(crate) default_base_job_template: Map<String, Value>,
    /// Kept by Prefect Cloud only; read and ignored, as Prefect's own server does.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) worker_metadata: Option<Map<String, Value>>,
}

/// Why a hello that parses is still not valid (Prefect's model validators).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HelloError {
    /// `supported_channel_versions` or `requested_capabilities` is empty.
    #[error("{0} should have at least 1 item")]
    Empty(&'static str),
    /// A required capability was not asked for.
    #[error("Missing required channel capabilities: {0:?}")]
    MissingCapabilities(Vec<&'static str>),
    /// Cleanup settings without the cleanup capability.
    #[error("`{0}` requires `cleanup_delivery.v1`")]
    CleanupWithoutCapability(&'static str),
}

impl Hello {
    /// Prefect's `WorkerHelloPayload` validators.
    pub(crate) fn validate(&self) -> Result<(), HelloError> {
        if self.supported_channel_versions.is_empty() {
            return Err(HelloError::Empty("supported_channel_versions"));
        }
        if self.requested_capabilities.is_empty() {
            return Err(HelloError::Empty("requested_capabilities"));
        }
        let missing: Vec<&'static str> = REQUIRED
            .into_iter()
            .filter(|c| !self.requested_capabilities.iter().any(|r| r.0 == *c))
            .collect();
        if !missing.is_empty() {
            return Err(HelloError::MissingCapabilities(missing));
        }
        if !self.requested(CLEANUP_CAPABILITY) {
            if !self.handled_cleanup_kinds.is_empty() {
                return Err(HelloError::CleanupWithoutCapability(
                    "handled_cleanup_kinds",
                ));
            }
            if self.max_cleanup_concurrency != 0 {
                return Err(HelloError::CleanupWithoutCapability(
                    "max_cleanup_concurrency",
                ));
            }
        }
        Ok(())
    }

    fn requested(&self, capability: &str) -> bool {
        self.requested_capabilities
            .iter()
            .any(|r| r.0 == capability)
    }

    /// Whether a version in common exists (Prefect's `select_worker_channel_version`).
    pub(crate) fn speaks_v1(&self) -> bool {
        self.supported_channel_versions
            .iter()
            .any(|v| v.0 == VERSION)
    }

    /// What was asked for and is not given, each once, in the order asked.
    pub(crate) fn rejected(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.requested_capabilities {
            if !REQUIRED.contains(&c.0.as_str()) && !out.contains(&c.0) {
                out.push(c.0.clone());
            }
        }
        out
    }
}

/// `worker.heartbeat.v1`'s payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Beat {
    pub(crate) consumer_id: Uuid,
    pub(crate) worker_name: NonEmpty,
    pub(crate) heartbeat_interval_seconds: Positive,
}

/// The payload of `cleanup.ack.v1` and `cleanup.renew.v1` (and, with a
/// reason, `cleanup.release.v1`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CleanupOperation {
    pub(crate) message_id: Uuid,
    #[allow(dead_code)]
    pub(crate) reservation_token: NonEmpty,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) reason: Option<NonEmpty>,
}

/// A frame a worker sends. Server frames sent back by a client fail to parse,
/// which makes them the protocol error Prefect makes of them too.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub(crate) enum WorkerFrame {
    /// The first frame after auth.
    #[serde(rename = "worker.hello.v1")]
    Hello {
        #[allow(dead_code)]
        id: Uuid,
        #[allow(dead_code)]
        sent_at: Timestamp,
        payload: Box<Hello>,
    },
    /// A heartbeat.
    #[serde(rename = "worker.heartbeat.v1")]
    Heartbeat {
        #[allow(dead_code)]
        id: Uuid,
        #[allow(dead_code)]
        sent_at: Timestamp,
        payload: Beat,
    },
    /// Acknowledges a cleanup message.
    #[serde(rename = "cleanup.ack.v1")]
    CleanupAck {
        id: Uuid,
        #[allow(dead_code)]
        sent_at: Timestamp,
        payload: CleanupOperation,
    },
    /// Gives a cleanup message back.
    #[serde(rename = "cleanup.release.v1")]
    CleanupRelease {
        id: Uuid,
        #[allow(dead_code)]
        sent_at: Timestamp,
        payload: CleanupOperation,
    },
    /// Extends a cleanup message's lease.
    #[serde(rename = "cleanup.renew.v1")]
    CleanupRenew {
        id: Uuid,
        #[allow(dead_code)]
        sent_at: Timestamp,
        payload: CleanupOperation,
    },
}

impl WorkerFrame {
    /// Reads one frame: `Err` is a protocol error.
    pub(crate) fn parse(text: &[u8]) -> Result<WorkerFrame, serde_json::Error> {
        Self::from_value(serde_json::from_slice(text)?)
    }

    /// Reads one frame from JSON already parsed: `Err` is a protocol error.
    pub(crate) fn from_value(v: Value) -> Result<WorkerFrame, serde_json::Error> {
        let frame: WorkerFrame = serde_json::from_value(v)?;
        if let WorkerFrame::CleanupRelease { payload, .. } = &frame {
            if payload.reason.is_none() {
                return Err(serde::de::Error::missing_field("reason"));
            }
        }
        if let WorkerFrame::CleanupAck { payload, .. } | WorkerFrame::CleanupRenew { payload, .. } =
            &frame
        {
            if payload.reason.is_some() {
                return Err(serde::de::Error::unknown_field("reason", &[]));
            }
        }
        Ok(frame)
    }
}

/// A queue the worker asked for (or every queue of the pool).
#[derive(Debug, Serialize)]
pub(crate) struct ResolvedQueue {
    pub(crate) id: Uuid,
    pub(crate) name: String,
}

/// A pool snapshot: the pool as `GET /api/work_pools/{name}` answers it.
#[derive(Debug, Serialize)]
pub(crate) struct Snapshot {
    pub(crate) snapshot_sequence: u64,
    pub(crate) reason: &'static str,
    pub(crate) work_pool: PoolResponse,
}

/// `worker.ready.v1`'s payload.
#[derive(Debug, Serialize)]
pub(crate) struct Ready {
    pub(crate) consumer_id: Uuid,
    /// Prefect's open-source server sends `null` too.
    pub(crate) worker_id: Option<Uuid>,
    pub(crate) selected_channel_version: &'static str,
    pub(crate) effective_heartbeat_interval_seconds: u32,
    pub(crate) accepted_capabilities: [&'static str; 2],
    pub(crate) rejected_capabilities: Vec<String>,
    pub(crate) effective_max_cleanup_concurrency: u32,
    pub(crate) resolved_work_queues: Vec<ResolvedQueue>,
    pub(crate) initial_snapshot: Snapshot,
}

/// `cleanup.operation_result.v1`'s payload.
#[derive(Debug, Serialize)]
pub(crate) struct CleanupResult {
    pub(crate) request_frame_id: Uuid,
    pub(crate) message_id: Uuid,
    pub(crate) operation: &'static str,
    pub(crate) status: &'static str,
    pub(crate) lease_expires_at: Option<Timestamp>,
    pub(crate) reason: Option<&'static str>,
    pub(crate) detail: Option<String>,
}

/// A frame the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub(crate) enum ServerFrame {
    /// The answer to the hello.
    #[serde(rename = "worker.ready.v1")]
    Ready {
        id: Uuid,
        sent_at: Timestamp,
        payload: Box<Ready>,
    },
    /// The pool changed.
    #[serde(rename = "work_pool.snapshot.v1")]
    Snapshot {
        id: Uuid,
        sent_at: Timestamp,
        payload: Box<Snapshot>,
    },
    /// The answer to a cleanup operation (always `unauthorized` here).
    #[serde(rename = "cleanup.operation_result.v1")]
    CleanupResult {
        id: Uuid,
        sent_at: Timestamp,
        payload: CleanupResult,
    },
}

impl ServerFrame {
    /// The frame as JSON text.
    pub(crate) fn to_text(&self) -> String {
        // Every field is a plain value or map: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hello(payload: Value) -> Value {
        json!({"type": "worker.hello.v1", "id": Uuid::now_v7(),
               "sent_at": "2026-12-02T06:00:00.123456Z", "payload": payload})
    }

    fn base() -> Value {
        json!({"consumer_id": Uuid::now_v7(), "worker_name": "w", "worker_type": "process",
               "heartbeat_interval_seconds": 30,
               "supported_channel_versions": [VERSION],
               "requested_capabilities": REQUIRED})
    }

    fn parse(v: Value) -> Result<WorkerFrame, serde_json::Error> {
        WorkerFrame::parse(v.to_string().as_bytes())
    }

    #[test]
    fn prefects_hello_parses_and_validates() {
        let mut p = base();
        p["work_queue_names"] = json!(["default"]);
        p["create_pool_if_not_found"] = json!(true);
        p["default_base_job_template"] = json!({"variables": {}});
        p["worker_metadata"] = Value::Null;
        p["handled_cleanup_kinds"] = json!([]);
        p["max_cleanup_concurrency"] = json!(0);
        let Ok(WorkerFrame::Hello { payload, .. }) = parse(hello(p)) else {
            panic!("hello parses")
        };
        assert_eq!(payload.validate(), Ok(()));
        assert!(payload.speaks_v1());
    }

    #[test]
    fn unknown_fields_and_empty_names_are_protocol_errors() {
        let mut p = base();
        p["extra"] = json!(1);
        assert!(parse(hello(p)).is_err());
        let mut p = base();
        p["worker_name"] = json!("");
        assert!(parse(hello(p)).is_err());
        let mut p = base();
        p["heartbeat_interval_seconds"] = json!(0);
        assert!(parse(hello(p)).is_err());
        assert!(parse(json!({"type": "worker.ready.v1"})).is_err());
    }

    #[test]
    fn hello_validators_are_prefects() {
        let mut p = base();
        p["requested_capabilities"] = json!([HEARTBEAT_CAPABILITY]);
        let Ok(WorkerFrame::Hello { payload, .. }) = parse(hello(p)) else {
            panic!("hello parses")
        };
        assert_eq!(
            payload.validate(),
            Err(HelloError::MissingCapabilities(vec![SNAPSHOT_CAPABILITY]))
        );
        let mut p = base();
        p["max_cleanup_concurrency"] = json!(2);
        let Ok(WorkerFrame::Hello { payload, .. }) = parse(hello(p)) else {
            panic!("hello parses")
        };
        assert!(payload.validate().is_err());
        let mut p = base();
        p["requested_capabilities"] = json!([
            SNAPSHOT_CAPABILITY,
            HEARTBEAT_CAPABILITY,
            CLEANUP_CAPABILITY,
            CLEANUP_CAPABILITY
        ]);
        p["handled_cleanup_kinds"] = json!(["pending_claim_teardown.v1"]);
        let Ok(WorkerFrame::Hello { payload, .. }) = parse(hello(p)) else {
            panic!("hello parses")
        };
        assert_eq!(payload.validate(), Ok(()));
        assert_eq!(payload.rejected(), vec![CLEANUP_CAPABILITY.to_owned()]);
    }

    #[test]
    fn close_policies_are_prefects() {
        assert_eq!(CloseReason::AuthenticationFailed.code(), 1008);
        assert_eq!(CloseReason::ProtocolError.code(), 1002);
        assert_eq!(CloseReason::HeartbeatPersistenceFailed.code(), 1011);
        assert_eq!(
            CloseReason::UnsupportedVersion.as_str(),
            "unsupported_version"
        );
    }
}
