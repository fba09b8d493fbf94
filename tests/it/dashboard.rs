//! The dashboard in a real headless browser (Debian's chromium, driven over the DevTools
//! protocol): it loads, shows three nodes and a full slot map, fits a narrow window, and
//! after a node's container is killed shows the change and the recovery without a reload.
//! Screenshots are kept in the test's target folder.

use crate::common;

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

use common::{Operator, TestCluster, REFERENCE};

/// A headless chromium, killed when dropped.
struct Browser {
    child: tokio::process::Child,
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the dashboard test needs chromium (./dev installs it from Debian)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    return url.trim().to_string();
                }
            }
            panic!("chromium exited before listening");
        })
        .await
        .expect("chromium's DevTools endpoint within 30 s");
        // Keep draining stderr so chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools websocket");
        Browser {
            child,
            ws,
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Sends a DevTools command (to the attached page, if any) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        loop {
            let frame = self
                .ws
                .next()
                .await
                .expect("DevTools connection open")
                .unwrap();
            let Ok(text) = frame.to_text() else { continue };
            let reply: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if reply["id"] == id {
                assert!(reply["error"].is_null(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
        }
    }

    async fn open(&mut self, url: &str) {
        let target = self
            .call("Target.createTarget", json!({ "url": url }))
            .await;
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        self.session = attached["sessionId"].as_str().map(String::from);
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    async fn screenshot(&mut self, name: &str) {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let data = shot["data"].as_str().unwrap();
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, base64_decode(data)).unwrap();
        eprintln!("dashboard screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// What the page shows: each node card's name and badge, and the slot map's owners.
const PAGE_STATE: &str = r#"JSON.stringify({
  cards: [...document.querySelectorAll('.node')].map(c => [c.dataset.node, c.querySelector('.badge').textContent, c.querySelector('.server').textContent]),
  owners: [...document.querySelectorAll('#slotmap .span')].map(s => s.dataset.owner),
  marker: window.__kept
})"#;

async fn page_state(browser: &mut Browser) -> Value {
    let text = browser.eval(PAGE_STATE).await;
    serde_json::from_str(text.as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

async fn wait_for_page(browser: &mut Browser, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
    let every = Duration::from_millis(100);
    let shown = format!("the page showing {what}");
    common::poll_until(&shown, Duration::from_secs(60), every, async || {
        let state = page_state(browser).await;
        if holds(&state) {
            Ok(state)
        } else {
            Err(state.to_string())
        }
    })
    .await
}

fn badge(state: &Value, node: &str) -> String {
    state["cards"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c[0] == node)
        .and_then(|c| c[1].as_str())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn the_dashboard_shows_the_cluster_and_a_repair_live() {
    let cluster = TestCluster::new("dash", 84, &REFERENCE).await;
    let addr = "127.0.0.1:18084";
    let operator = Operator::start_with(&cluster, &["--resync", "1", "--listen", addr]);
    operator
        .ready_after(SystemTime::UNIX_EPOCH, Duration::from_secs(90))
        .await;

    let mut browser = Browser::launch().await;
    browser.open(&format!("http://{addr}/")).await;
    let healthy = |s: &Value| {
        ["redis-1", "redis-2", "redis-3"]
            .iter()
            .all(|n| badge(s, n) == "ok")
            && s["owners"]
                .as_array()
                .is_some_and(|o| !o.is_empty() && o.iter().all(|x| x != ""))
    };
    let state = wait_for_page(
        &mut browser,
        "three healthy nodes and a full slot map",
        healthy,
    )
    .await;
    assert_eq!(state["cards"].as_array().unwrap().len(), 3);
    let host_redis = redis_keeper::docker::host_image::find()
        .await
        .expect("the host's Redis")
        .version;
    for card in state["cards"].as_array().unwrap() {
        assert_eq!(
            card[2],
            format!("Redis {host_redis}"),
            "each card names its node's server"
        );
    }
    let owners: std::collections::BTreeSet<&str> = state["owners"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        owners,
        ["redis-1", "redis-2", "redis-3"].into(),
        "every slot owned, by all three"
    );
    browser.screenshot("dashboard-healthy.png").await;

    // A narrow window: nothing wider than the screen.
    browser
        .call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 380, "height": 800, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, json!(true), "the page scrolls sideways at 380 px");
    browser.screenshot("dashboard-narrow.png").await;
    browser
        .call("Emulation.clearDeviceMetricsOverride", json!({}))
        .await;

    // Killed, then repaired: both seen by the same page (a reload would lose the marker).
    browser.eval("window.__kept = 42").await;
    common::kill(&cluster.container("redis-2")).await;
    let down = wait_for_page(&mut browser, "redis-2 down", |s| {
        badge(s, "redis-2") != "ok"
    })
    .await;
    eprintln!("dashboard showed redis-2 as {:?}", badge(&down, "redis-2"));
    browser.screenshot("dashboard-node-down.png").await;
    let back = wait_for_page(&mut browser, "redis-2 back", healthy).await;
    assert_eq!(back["marker"], 42, "the page was not reloaded");
    browser.screenshot("dashboard-recovered.png").await;
}
