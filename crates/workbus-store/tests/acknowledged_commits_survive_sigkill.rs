//! A commit that was acknowledged survives the process being killed with
//! SIGKILL at any moment, and a batch is there whole or not at all: never a
//! record without the event written with it, or an event without its record.
//!
//! A child process (this test binary, re-run as `writer`) commits batches from
//! eight tasks and prints each one it was told is durable; the parent kills it
//! at a random moment, opens the store, and checks.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use workbus_store::{Batch, RedbStore, Store, Table};

/// Run as a child process: commits until killed, printing `ack <n>` per durable batch.
#[test]
fn writer() {
    let Ok(dir) = std::env::var("WORKBUS_STORE_CRASH_DIR") else {
        return;
    };
    let start: u64 = std::env::var("WORKBUS_STORE_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Arc::new(RedbStore::open(&dir).unwrap());
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let n = start + i * 8 + t;
                        let key = n.to_be_bytes().to_vec();
                        let mut b = Batch::new();
                        // A record, a second record, and the event of the change: all or none.
                        b.put(Table::Pools, key.clone(), vec![7; 512])
                            .put(Table::Queues, key.clone(), vec![8; 256])
                            .event([0; 16], n as i64, key);
                        store.commit(b).await.unwrap();
                        println!("ack {n}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn every_acknowledged_batch_is_there_whole_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 12;
    let mut acked_total = 0;
    let mut next = 0u64;
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
            .env("WORKBUS_STORE_CRASH_DIR", dir.path())
            .env("WORKBUS_STORE_CRASH_START", next.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = BTreeSet::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    acked.insert(n.parse::<u64>().unwrap());
                }
            }
            acked
        });
        let wait = Duration::from_millis(rng.u64(100..600));
        let began = Instant::now();
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let c = store.load().unwrap();
        let keys = |v: &[(Vec<u8>, Vec<u8>)]| -> BTreeSet<u64> {
            v.iter()
                .map(|(k, _)| u64::from_be_bytes(k.as_slice().try_into().unwrap()))
                .collect()
        };
        let (pools, queues) = (keys(&c.pools), keys(&c.queues));
        let events: BTreeSet<u64> = c
            .events
            .iter()
            .map(|e| u64::from_be_bytes(e.json.as_slice().try_into().unwrap()))
            .collect();
        let lost: Vec<_> = acked.difference(&pools).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged and lost: {lost:?}"
        );
        assert_eq!(pools, queues, "round {round}: a batch was split");
        assert_eq!(
            pools, events,
            "round {round}: a record without its event, or the reverse"
        );
        eprintln!(
            "round {round}: killed after {:?}: {} acknowledged, {} stored",
            began.elapsed(),
            acked.len(),
            pools.len()
        );
        acked_total += acked.len();
        next = pools.iter().max().map_or(next, |m| m + 1) + 1_000_000;
    }
    assert!(
        acked_total > rounds,
        "the writer acknowledged too little to test anything"
    );
}
