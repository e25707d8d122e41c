//! Bursts of thousands of connections leave the process where it was: what
//! they needed while open is given back to the system once they close, so
//! resident memory does not climb from one burst to the next.

mod common;

use std::time::Duration;

use common::child;
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection and has one request answered on it (so the server
/// holds its buffers), keeping it open.
async fn open(addr: std::net::SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .ok()?;
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !got.ends_with(b"true") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Some(s)
}

#[actix_rt::test]
async fn resident_memory_returns_after_each_burst() {
    let s = child::start(&[]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = s.rss_kib();
    for round in 0..4 {
        let mut conns = Vec::new();
        for _ in 0..8 {
            conns.extend(join_all((0..500).map(|_| open(s.addr))).await);
        }
        let open_now = conns.iter().filter(|c| c.is_some()).count();
        assert_eq!(open_now, 4000, "round {round}: every connection was served");
        let peak = s.rss_kib();
        drop(conns);
        // Within a few seconds of the burst, memory is back near where it started.
        let mut after = u64::MAX;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            after = s.rss_kib();
            if after < start + 16 * 1024 {
                break;
            }
        }
        assert!(
            after < start + 16 * 1024,
            "round {round}: {start} KiB at start, {peak} KiB open, {after} KiB after"
        );
    }
}
