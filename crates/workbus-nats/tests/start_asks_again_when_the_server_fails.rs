//! A stream the server fails to store at start is asked for again, not given up on.

mod support;

use std::time::Duration;

use support::*;
use workbus_core::{Bus, CreatePool};
use workbus_nats::{Error, NatsBridge, NatsConfig};

const WAIT: Duration = Duration::from_secs(15);

#[actix_rt::test]
async fn a_stream_the_server_failed_to_store_is_asked_for_again() {
    init_logs();
    let server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    // The server cannot make the stream's store until the blocker is gone.
    let blocker = server.block(&ts.name);
    let failed = server
        .answered(format!("$JS.API.STREAM.CREATE.{}", ts.name), 10049)
        .await;
    let unblock = async {
        failed.await;
        std::fs::remove_file(&blocker).unwrap();
    };

    let bus = Bus::start();
    let config = NatsConfig {
        max_attempts: 1_000,
        ..ts.config(&node("a"))
    };
    let (bridge, ()) = tokio::time::timeout(WAIT, async {
        tokio::join!(NatsBridge::start(&bus, config), unblock)
    })
    .await
    .expect("the bridge starts once the server can store the stream");
    let bridge = bridge.unwrap();

    bus.create_pool(CreatePool::new("after", "process"))
        .await
        .unwrap();
    bridge.flush().await.unwrap();
    assert_eq!(bridge.stats().publisher.published(), 3);
    assert_eq!(ts.messages().await.len(), 3);
}

#[actix_rt::test]
async fn start_gives_up_after_max_attempts_with_the_servers_answer() {
    init_logs();
    let server = OwnServer::start();
    let ts = TestStream::new(&server.url());
    server.block(&ts.name);

    let config = NatsConfig {
        max_attempts: 3,
        ..ts.config(&node("a"))
    };
    let err = NatsBridge::start(&Bus::start(), config).await.unwrap_err();
    let Error::Stream { stream, source } = &err else {
        panic!("not a stream error: {err}");
    };
    assert_eq!(stream, &ts.name);
    assert!(
        source
            .to_string()
            .contains("error creating store for stream"),
        "{source}"
    );
}
