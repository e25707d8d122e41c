//! The bridge's setup calls (the stream, the durable consumer), retried while
//! the server's failure is its own.
//!
//! NATS answers a stream it could not store (yet) with a 500, "error creating
//! store for stream", and a busy server may not answer in time at all. Neither
//! says the setting is wrong, so [`NatsBridge::start`](crate::NatsBridge::start)
//! tries again on the [`retry`](crate::NatsConfig::retry) schedule, up to
//! [`max_attempts`](crate::NatsConfig::max_attempts) calls in all, instead of
//! failing a node's start on the first one. A refusal (a 4xx: a name in use
//! with other settings, a bad config) fails at once.

use std::fmt::Display;
use std::future::Future;

use async_nats::jetstream::context::{CreateStreamError, CreateStreamErrorKind};
use async_nats::jetstream::stream::{ConsumerError, ConsumerErrorKind};
use workbus_subscribers::toolkit::Backoff;

/// An error that another try of the same call may not meet.
pub(crate) trait Transient {
    /// The server failed on its side (a 5xx) or did not answer in time.
    fn is_transient(&self) -> bool;
}

impl Transient for CreateStreamError {
    fn is_transient(&self) -> bool {
        match self.kind() {
            CreateStreamErrorKind::JetStream(e) => e.code() >= 500,
            CreateStreamErrorKind::TimedOut => true,
            _ => false,
        }
    }
}

impl Transient for ConsumerError {
    fn is_transient(&self) -> bool {
        match self.kind() {
            ConsumerErrorKind::JetStream(e) => e.code() >= 500,
            ConsumerErrorKind::TimedOut => true,
            _ => false,
        }
    }
}

/// Calls `call` until it succeeds, fails for good, or has been made `attempts`
/// times, waiting `retry.delay(n)` after the n-th transient failure.
pub(crate) async fn retried<T, E, F, Fut>(
    what: &str,
    retry: &Backoff,
    attempts: u32,
    mut call: F,
) -> Result<T, E>
where
    E: Transient + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut failures = 0;
    loop {
        match call().await {
            Ok(done) => return Ok(done),
            Err(e) if e.is_transient() && failures + 1 < attempts => {
                let delay = retry.delay(failures);
                tracing::warn!(%what, error = %e, ?delay, "NATS failed to set up the bridge; trying again");
                failures += 1;
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use async_nats::jetstream::Error as ApiError;
    use tokio::time::Instant;

    use super::*;

    fn answer(code: usize, err_code: u64, description: &str) -> CreateStreamError {
        let api: ApiError = serde_json::from_value(serde_json::json!({
            "code": code, "err_code": err_code, "description": description,
        }))
        .unwrap();
        CreateStreamError::new(CreateStreamErrorKind::JetStream(api))
    }

    fn store_failed() -> CreateStreamError {
        answer(500, 10049, "error creating store for stream")
    }

    const SCHEDULE: Backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(25));

    #[tokio::test(start_paused = true)]
    async fn server_failures_are_tried_again_on_the_schedule() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let got = retried("stream", &SCHEDULE, 5, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                match n {
                    1 => Err(store_failed()),
                    2 => Err(CreateStreamError::new(CreateStreamErrorKind::TimedOut)),
                    3 => Err(store_failed()),
                    _ => Ok(n),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 4);
        // 10 ms, 20 ms, then the 25 ms ceiling.
        assert_eq!(start.elapsed(), Duration::from_millis(55));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_server_failure_is_returned_after_max_attempts() {
        let calls = Cell::new(0);
        let err = retried("stream", &SCHEDULE, 3, || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(store_failed()) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 3);
        assert!(err.is_transient(), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_tried_again() {
        let calls = Cell::new(0);
        let start = Instant::now();
        let err = retried("stream", &SCHEDULE, 10, || {
            calls.set(calls.get() + 1);
            async { Err::<(), _>(answer(400, 10058, "stream name already in use")) }
        })
        .await
        .unwrap_err();
        assert_eq!(calls.get(), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(!err.is_transient());
    }
}
