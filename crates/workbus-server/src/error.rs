//! Errors of the server, and how each becomes an HTTP answer.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use thiserror::Error;

/// Why a request was refused. Every refusal answers JSON with a `detail` and changes nothing.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The bus refused the operation.
    #[error(transparent)]
    Bus(#[from] workbus_core::Error),
    /// The body, path or query is not what the route takes (422, as FastAPI answers).
    #[error("{0}")]
    Invalid(String),
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The body is not JSON by its content type.
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
    /// A request this route cannot take at all (a plain GET on a websocket route).
    #[error("{0}")]
    BadRequest(String),
    /// A websocket without the `prefect` subprotocol while auth is on (Prefect refuses it too).
    #[error("'prefect' subprotocol required when auth is configured")]
    SubprotocolRequired,
    /// The worker channel without the `prefect` subprotocol (Prefect refuses the upgrade).
    #[error("'prefect' subprotocol required")]
    ChannelSubprotocolRequired,
    /// No route has this path.
    #[error("Not Found")]
    NotFound,
    /// The automations refused (not found, at their limit) or stopped.
    #[error(transparent)]
    Automation(#[from] workbus_automations::AutomationError),
    /// The blocks refused (not found, taken, invalid, at their limit).
    #[error(transparent)]
    Block(#[from] workbus_automations::BlockError),
    /// No node of the fleet leads the automations right now (one is being chosen),
    /// or the leader did not answer a forwarded request.
    #[error("no node of the fleet leads the automations right now: try again")]
    NoLeader,
    /// The route exists but not for this method.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// Auth is on and the request did not carry the auth string.
    #[error("Unauthorized")]
    Unauthorized,
    /// A page token that this server did not issue, or that was altered.
    #[error("invalid page token")]
    InvalidPageToken,
    /// Something this server needs is gone (the history actor stopped).
    #[error("the server is shutting down")]
    Unavailable,
    /// As many websocket connections are open as `WORKBUS_MAX_WEBSOCKET_CLIENTS` allows.
    #[error("too many websocket clients: at most {0} at once; try again later")]
    TooManyClients(usize),
    /// Request bodies being read hold all of `WORKBUS_MAX_BODY_BYTES_IN_FLIGHT`.
    #[error("too many request bodies in flight: at most {0} bytes at once; try again later")]
    Busy(usize),
    /// As many websocket handshakes are under way as `WORKBUS_MAX_WEBSOCKET_HANDSHAKES` allows.
    #[error("too many websocket handshakes under way: at most {0} at once; try again later")]
    TooManyHandshakes(usize),
}

impl ApiError {
    /// A 422 for an invalid request.
    pub fn invalid(msg: impl std::fmt::Display) -> Self {
        ApiError::Invalid(msg.to_string())
    }
}

/// The most characters of a `detail`: enough for any message of ours, and a bound on
/// what a refusal echoes of a client's input (a serde message quotes the bad value).
const MAX_DETAIL_CHARS: usize = 1000;

fn short(detail: String) -> String {
    match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &detail[..cut]),
        None => detail,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use workbus_core::Error as E;
        match self {
            ApiError::Bus(e) => match e {
                E::PoolNotFound(_)
                | E::PoolIdNotFound(_)
                | E::QueueNotFound { .. }
                | E::QueueIdNotFound(_)
                | E::WorkerNotFound { .. } => StatusCode::NOT_FOUND,
                E::PoolExists(_) | E::QueueExists { .. } | E::LimitReached { .. } => {
                    StatusCode::CONFLICT
                }
                E::ReservedName(_) => StatusCode::FORBIDDEN,
                E::InvalidName { .. }
                | E::NegativeConcurrencyLimit(_)
                | E::InvalidPriority(_)
                | E::InvalidHeartbeatInterval => StatusCode::UNPROCESSABLE_ENTITY,
                // A state conflict, not a malformed request: the queue exists and is the default.
                E::DefaultQueueDeletion(_) => StatusCode::CONFLICT,
                E::Stopped | E::Busy | E::Timeout => StatusCode::SERVICE_UNAVAILABLE,
                // The change is made in memory but could not be written: not durable, say so.
                E::Store(_) | E::CorruptRecord { .. } => StatusCode::SERVICE_UNAVAILABLE,
                // The server subscribes each of its actors once.
                E::AlreadySubscribed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::SubprotocolRequired | ApiError::ChannelSubprotocolRequired => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Automation(e) => {
                use workbus_automations::AutomationError as A;
                match e {
                    A::NotFound(_) => StatusCode::NOT_FOUND,
                    A::LimitReached(_) => StatusCode::CONFLICT,
                    A::TooLarge { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    A::Stopped | A::Bus(_) | A::Store(_) | A::CorruptRecord { .. } => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }
            ApiError::Block(e) => {
                use workbus_automations::BlockError as B;
                match e {
                    B::NotFound(_) => StatusCode::NOT_FOUND,
                    B::Exists(_) | B::LimitReached { .. } => StatusCode::CONFLICT,
                    B::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    B::Store(_) | B::CorruptRecord { .. } => StatusCode::SERVICE_UNAVAILABLE,
                }
            }
            ApiError::NoLeader => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::InvalidPageToken => StatusCode::FORBIDDEN,
            ApiError::Unavailable
            | ApiError::TooManyClients(_)
            | ApiError::TooManyHandshakes(_)
            | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = short(self.to_string());
        let body = match self {
            // Prefect's shape for validation errors, plus the `detail` every error carries.
            ApiError::Invalid(_) | ApiError::Bus(_) | ApiError::Automation(_)
                if status == StatusCode::UNPROCESSABLE_ENTITY =>
            {
                json!({
                    "detail": detail,
                    "exception_message": "Invalid request received.",
                    "exception_detail": [{"loc": ["body"], "msg": detail, "type": "value_error"}],
                })
            }
            // Prefect's auth middleware answers exactly this.
            ApiError::Unauthorized => {
                json!({"exception_message": "Unauthorized", "detail": detail})
            }
            _ => json!({ "detail": detail }),
        };
        let mut resp = HttpResponse::build(status);
        if matches!(
            self,
            ApiError::TooManyClients(_) | ApiError::TooManyHandshakes(_)
        ) {
            resp.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        if matches!(
            self,
            ApiError::Busy(_) | ApiError::Bus(workbus_core::Error::Busy)
        ) {
            resp.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        resp.json(body)
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bus refused the server's own subscription.
    #[error(transparent)]
    Bus(#[from] workbus_core::Error),
    /// The HTTP server failed while running.
    #[error("the HTTP server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The subscribers (logger, webhooks, metrics) could not be configured or started.
    #[error("subscribers: {0}")]
    Subscribers(#[source] workbus_subscribers::Error),
    /// The NATS bridge could not be configured or started.
    #[error("NATS bridge: {0}")]
    Nats(#[source] workbus_nats::Error),
    /// The store could not be opened or read: in use, unreadable, of another format.
    #[error("{0}")]
    Store(#[source] workbus_store::StoreError),
    /// The stored automations could not be read.
    #[error("automations: {0}")]
    Automations(#[source] workbus_automations::AutomationError),
    /// The node could not join its fleet.
    #[error("cluster: {0}")]
    Cluster(#[source] workbus_cluster::ClusterError),
}

impl ServerError {
    /// Whether the error is a setting out of range (the binary exits 2 for those, 1 otherwise).
    pub fn is_config(&self) -> bool {
        use workbus_nats::Error as N;
        use workbus_subscribers::Error as S;
        match self {
            ServerError::Config(_) => true,
            ServerError::Subscribers(e) => matches!(
                e,
                S::InvalidSecret { .. }
                    | S::InvalidUrl { .. }
                    | S::InvalidSetting { .. }
                    | S::ConfigRead { .. }
                    | S::ConfigParse { .. }
                    | S::FeatureDisabled(_)
            ),
            ServerError::Nats(e) => matches!(e, N::InvalidConfig { .. }),
            // A store the server cannot use is the operator's to fix, as a setting is.
            ServerError::Store(_) => true,
            ServerError::Cluster(e) => matches!(
                e,
                workbus_cluster::ClusterError::InvalidConfig { .. }
                    | workbus_cluster::ClusterError::NameTaken(_)
            ),
            ServerError::Bus(workbus_core::Error::CorruptRecord { .. }) => true,
            ServerError::Automations(_) => true,
            _ => false,
        }
    }
}
