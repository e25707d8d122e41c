//! A call sent without waiting (`heartbeat_nowait`) for a pool held on
//! another node is a request in flight: at most `MAX_UNAWAITED` at once, the
//! next refused with `Busy`, and every one accepted is done.

mod support;

use std::time::Duration;

use support::*;
use workbus_core::{CreatePool, Error, MAX_UNAWAITED};

#[actix_rt::test]
async fn calls_sent_without_waiting_are_bounded_and_done() {
    init_logs();
    let cluster = fleet_name();
    let nodes = fleet(&cluster, &["a", "b"]).await;
    // A pool that b holds, driven from a.
    let mut name = None;
    for i in 0..64 {
        let n = format!("pool-{i}");
        nodes[0]
            .bus()
            .create_pool(CreatePool::new(&n, "process"))
            .await
            .unwrap();
        if nodes[1].bus().holds(&n) {
            name = Some(n);
            break;
        }
    }
    let name = name.expect("b holds one of 64 pools");
    let a = nodes[0].bus();
    let before = nodes[0].stats().forwarded();
    let (mut accepted, mut busy) = (0, 0);
    // No await in between: nothing sent can finish meanwhile.
    for _ in 0..MAX_UNAWAITED + 100 {
        // One worker: after its first heartbeat the others change only a time.
        match a.heartbeat_nowait(&name, "worker") {
            Ok(()) => accepted += 1,
            Err(Error::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((accepted, busy), (MAX_UNAWAITED, 100));
    // Every accepted call is answered by the owner.
    let forwarded = || nodes[0].stats().forwarded() - before;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while forwarded() < MAX_UNAWAITED as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} answered",
            forwarded()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(forwarded(), MAX_UNAWAITED as u64);
    assert_eq!(nodes[1].bus().workers(&name).await.unwrap().len(), 1);
    // The places are free again.
    a.heartbeat_nowait(&name, "one-more").unwrap();
    for n in nodes {
        n.leave().await;
    }
    clean(&cluster).await;
}
