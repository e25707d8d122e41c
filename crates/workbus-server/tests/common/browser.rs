//! Debian's chromium, headless, driven over the Chrome DevTools Protocol on a
//! websocket (awc): open a page, evaluate JavaScript in it, take screenshots.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::Ws;

pub struct Browser {
    child: Child,
    ws: Ws,
    next: u64,
    _profile: tempfile::TempDir,
}

pub struct Page {
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts chromium headless and connects to it.
    pub async fn start() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child =
            Command::new(std::env::var("WORKBUS_CHROMIUM").unwrap_or_else(|_| "chromium".into()))
                .args([
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1400,900",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("chromium starts (Debian's package `chromium`)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium says where its DevTools listen");
        let (_, ws) = awc::Client::new()
            .ws(url)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("the DevTools websocket");
        Browser {
            child,
            ws,
            next: 0,
            _profile: profile,
        }
    }

    /// Sends one command and waits for its answer (events on the way are skipped).
    pub async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        let mut partial = Vec::new();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("the DevTools websocket is open")
                .unwrap();
            let bytes = match frame {
                Frame::Text(b) => b.to_vec(),
                Frame::Continuation(actix_http::ws::Item::FirstText(b)) => {
                    partial = b.to_vec();
                    continue;
                }
                Frame::Continuation(actix_http::ws::Item::Continue(b)) => {
                    partial.extend_from_slice(&b);
                    continue;
                }
                Frame::Continuation(actix_http::ws::Item::Last(b)) => {
                    partial.extend_from_slice(&b);
                    std::mem::take(&mut partial)
                }
                _ => continue,
            };
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens a tab at `url`.
    pub async fn open(&mut self, url: &str) -> Page {
        let target = self
            .call(None, "Target.createTarget", json!({"url": url}))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        self.call(Some(&session), "Page.enable", json!({})).await;
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        Page { session }
    }

    /// Evaluates an expression in the page (awaiting a promise), answering its value.
    pub async fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self
            .call(
                Some(&page.session),
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is true, for up to `limit`.
    /// An expression that throws (the page is still loading) counts as false.
    pub async fn wait_for(&mut self, page: &Page, what: &str, expression: &str, limit: Duration) {
        let start = Instant::now();
        let guarded =
            format!("(() => {{ try {{ return {expression}; }} catch (e) {{ return false; }} }})()");
        loop {
            if self.eval(page, &guarded).await == json!(true) {
                return;
            }
            if start.elapsed() > limit {
                let text = self.eval(page, "document.body.innerText").await;
                panic!("the page did not show {what} within {limit:?}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the page as it is.
    pub async fn screenshot(&mut self, page: &Page) -> Vec<u8> {
        use base64::Engine;
        let r = self
            .call(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({"format": "png"}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap()
    }
}
