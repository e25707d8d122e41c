//! A malformed request is the client's fault: the server answers or drops it,
//! counts it (`workbus_http_client_faults_total`), and writes no ERROR line,
//! so that no client can fill the operator's error log at will.

mod common;

use std::time::Duration;

use common::child;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn send_raw(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.expect("connects");
    let _ = s.write_all(bytes).await;
    let mut sink = vec![0u8; 4096];
    // Read until the server answers or hangs up.
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut sink)).await;
}

#[actix_rt::test]
async fn malformed_requests_write_no_error_lines() {
    let s = child::start(&[]);
    let mut huge_head = b"GET /api/health HTTP/1.1\r\nX-Big: ".to_vec();
    huge_head.extend(std::iter::repeat_n(b'a', 200_000));
    huge_head.extend_from_slice(b"\r\n\r\n");
    for bytes in [
        b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
        b"GET /api/health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        b"GET /api/health HTTP/9.9\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        huge_head,
    ] {
        send_raw(s.addr, &bytes).await;
    }
    let faults = s.metric("workbus_http_client_faults_total").await;
    assert!(faults >= 1.0, "the faults were counted: {faults}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.lines_at("ERROR"), Vec::<String>::new());
}
