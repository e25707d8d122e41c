//! A websocket client that writes frames by hand, to send what a polite client never would.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;

pub struct RawWs {
    /// What the server sends.
    pub reader: Reader,
    /// Where frames go.
    pub wr: OwnedWriteHalf,
}

/// The reading half, which decodes the server's frames.
pub struct Reader {
    rd: OwnedReadHalf,
    /// Bytes read past the handshake, not yet taken as frames.
    buf: Vec<u8>,
}

/// What the server sent, frame by frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame {
    Text(String),
    Close(Option<u16>),
    Other(u8),
}

/// The header of a masked client frame declaring `len` bytes of payload.
pub fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![(u8::from(fin) << 7) | opcode];
    match len {
        0..=125 => h.push(0x80 | len as u8),
        126..=0xffff => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    // A zero mask: the payload goes as it is.
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// A whole masked client frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header(fin, opcode, payload.len() as u64);
    f.extend_from_slice(payload);
    f
}

impl RawWs {
    /// Upgrades `path` on `addr`, with the `prefect` subprotocol when asked;
    /// answers the status line's code and, on 101, the socket.
    pub async fn connect(
        addr: std::net::SocketAddr,
        path: &str,
        prefect: bool,
    ) -> Result<RawWs, u16> {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let protocol = if prefect {
            "Sec-WebSocket-Protocol: prefect\r\n"
        } else {
            ""
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
        );
        stream
            .write_all(req.as_bytes())
            .await
            .expect("handshake sent");
        let mut buf = Vec::new();
        let end = loop {
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .expect("an answer to the upgrade")
                .expect("read");
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let code: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        if code != 101 {
            return Err(code);
        }
        let (rd, wr) = stream.into_split();
        Ok(RawWs {
            reader: Reader {
                rd,
                buf: buf[end..].to_vec(),
            },
            wr,
        })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.wr.write_all(bytes).await
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(&frame(true, TEXT, text.as_bytes()))
            .await
            .expect("frame sent");
    }

    pub async fn next_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        self.reader.next_frame(wait).await
    }

    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        self.reader.close_code(wait).await
    }
}

impl Reader {
    async fn fill(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 65536];
        match tokio::time::timeout(wait, self.rd.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    /// The next frame from the server; `None` at EOF, on error, or after `wait` of silence.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<ServerFrame> {
        loop {
            if self.buf.len() >= 2 {
                let opcode = self.buf[0] & 0x0f;
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    n @ 0..=125 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if at > 0 && self.buf.len() >= at + len {
                    let payload: Vec<u8> = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some(match opcode {
                        TEXT => ServerFrame::Text(String::from_utf8_lossy(&payload).into()),
                        CLOSE => ServerFrame::Close(
                            (payload.len() >= 2)
                                .then(|| u16::from_be_bytes([payload[0], payload[1]])),
                        ),
                        other => ServerFrame::Other(other),
                    });
                }
            }
            if !self.fill(wait).await {
                return None;
            }
        }
    }

    /// Reads frames until the server's close; its code, or `None` if the connection
    /// ended (or went silent for `wait`) without one.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        loop {
            match self.next_frame(wait).await? {
                ServerFrame::Close(code) => return code,
                _ => continue,
            }
        }
    }
}
