//! A `nats-server` of a test's own. The NATS bridge's tests and the cluster's
//! share it (the cluster's by `#[path]`), so it uses only what both have:
//! `async-nats`, `futures-util`, `serde_json` and `uuid`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A `nats-server` of the test's own, on a free port with its own store, for outages.
pub struct OwnServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnServer {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("workbus-nats-test-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = OwnServer {
            port,
            dir,
            child: None,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Puts a file where the store of `stream` goes (in the global account, as
    /// `-sd` lays it out): the server cannot make the stream, and answers its
    /// creation 500 "error creating store for stream", until the file is removed.
    /// Answers the file's path.
    pub fn block(&self, stream: &str) -> PathBuf {
        let streams = self.dir.join("jetstream").join("$G").join("streams");
        std::fs::create_dir_all(&streams).unwrap();
        let blocker = streams.join(stream);
        std::fs::write(&blocker, b"in the way").unwrap();
        blocker
    }

    /// Subscribes to the server's API audit advisories, and answers a future
    /// that resolves once the server has answered a request on `subject` with
    /// the JetStream error `err_code`.
    pub async fn answered(
        &self,
        subject: String,
        err_code: u64,
    ) -> impl std::future::Future<Output = ()> {
        use futures_util::StreamExt;

        let client = async_nats::connect(self.url()).await.unwrap();
        let mut audits = client.subscribe("$JS.EVENT.ADVISORY.API").await.unwrap();
        client.flush().await.unwrap();
        async move {
            while let Some(msg) = audits.next().await {
                let audit: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
                let response: serde_json::Value =
                    serde_json::from_str(audit["response"].as_str().unwrap_or("{}"))
                        .unwrap_or_default();
                if audit["subject"] == subject.as_str() && response["error"]["err_code"] == err_code
                {
                    return;
                }
            }
            panic!("the advisories ended");
        }
    }

    /// Starts the server (again) on the same port and store, and waits until it takes connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server: an outage.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
