//! The HTTP API (feature `server`): a real server on an ephemeral
//! loopback port, a real client (`reqwest`), SSE read over the wire.

mod api;
mod bad_input;
mod metrics;
mod openapi;
mod services;
mod sse;

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use taskorch::Orchestrator;
use taskorch::server::{Http, HttpConfig, Listener};

use crate::common::*;

/// The token the test servers take.
pub const TOKEN: &str = "test-token-8c1f";

/// A served orchestrator; both stop on drop.
pub struct Served {
    pub rt: Runtime,
    pub listener: Option<Listener>,
    pub base: String,
    pub client: reqwest::Client,
}

impl Served {
    pub fn orch(&self) -> &Orchestrator {
        &self.rt.orch
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.listener.as_ref().expect("serving").local_addr()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET answered")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// POST with the token.
    pub async fn post(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST answered")
    }

    /// Launch `body`; its run id.
    pub async fn launch(&self, body: Value) -> String {
        let response = self.post("/runs", &body.to_string()).await;
        assert_eq!(response.status(), 201, "POST /runs {body}");
        let answer: Value = response.json().await.expect("JSON");
        answer["id"].as_str().expect("id").to_string()
    }

    /// Wait until run `id` ends; its JSON.
    pub async fn wait_run(&self, id: &str) -> Value {
        let parsed = id.parse().expect("a run id");
        let orch = self.orch().clone();
        let _ = tokio::time::timeout(Duration::from_secs(60), orch.wait(parsed)).await;
        self.get_json(&format!("/runs/{id}")).await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Dropping the listener aborts its loop and connections.
        self.listener.take();
    }
}

/// A test config: the token, short timeouts.
pub fn config() -> HttpConfig {
    let mut config = HttpConfig::default().token(TOKEN);
    config.header_timeout = Duration::from_millis(500);
    config.body_timeout = Duration::from_millis(500);
    config
}

pub async fn serve() -> Served {
    serve_with(config()).await
}

pub async fn serve_with(config: HttpConfig) -> Served {
    let rt = start_runtime().await;
    serve_orch(rt, config).await
}

pub async fn serve_orch(rt: Runtime, config: HttpConfig) -> Served {
    let listener = Http::new(&rt.orch)
        .config(config)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds an ephemeral port");
    let base = format!("http://{}", listener.local_addr());
    Served {
        rt,
        listener: Some(listener),
        base,
        client: client(),
    }
}

/// A client that opens a connection per request: the test servers'
/// short header timeout also closes idle keep-alive connections, and a
/// pooled one could be reused just as it closes.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client")
}

/// Assert `response` is a problem document of `kind` with `status`.
pub async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status(), status, "status for {kind}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let doc: Value = response.json().await.expect("problem JSON");
    assert_eq!(doc["kind"], kind, "{doc}");
    assert_eq!(doc["status"], status);
    doc
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads events off an SSE response, over the wire.
pub struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buf: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        SseReader {
            stream: response
                .bytes_stream()
                .map(|r| r.map(|b| b.to_vec()))
                .boxed(),
            buf: String::new(),
        }
    }

    /// The next event with data (comments and keep-alives skipped);
    /// `None` when the server closed the stream. Panics after 20 s.
    pub async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(Duration::from_secs(20), self.next_inner())
            .await
            .expect("an event within 20 s")
    }

    async fn next_inner(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim_start().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event.event = Some(v.trim_start().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if !data.is_empty() {
                    event.data = data.join("\n");
                    return Some(event);
                }
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Events until one satisfies `done` (included).
    pub async fn until(&mut self, mut done: impl FnMut(&SseEvent) -> bool) -> Vec<SseEvent> {
        let mut seen = Vec::new();
        while let Some(event) = self.next().await {
            let stop = done(&event);
            seen.push(event);
            if stop {
                return seen;
            }
        }
        panic!("the stream ended before the awaited event: {seen:?}");
    }
}

/// The JSON of an `/events` event.
pub fn json(event: &SseEvent) -> Value {
    serde_json::from_str(&event.data).expect("event data is JSON")
}

/// Whether `event` is the `run_finished` of `id`.
pub fn finished(event: &SseEvent, id: &str) -> bool {
    event.event.is_none() && {
        let v = json(event);
        v["type"] == "run_finished" && v["run_id"] == id
    }
}
