//! A fault-injecting OpenAI-shaped server on 127.0.0.1 for tests (feature `stub`): minimal
//! HTTP/1.1, one request per connection, replies chosen by a test's closure, every request
//! logged with how many times the same request had been received.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::canonical_json;

/// One received request.
#[derive(Clone, Debug)]
pub struct StubRequest {
    pub path: String,
    /// The parsed body (`Null` if it was not JSON).
    pub body: Value,
    pub authorization: Option<String>,
    /// How many times this path and body have been received, this one included (1 = first).
    pub seen: usize,
}

impl StubRequest {
    /// The content of the last message of a chat request, or the prompt of a completion.
    pub fn last_text(&self) -> &str {
        if let Some(messages) = self.body.get("messages").and_then(Value::as_array) {
            if let Some(content) = messages
                .last()
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
            {
                return content;
            }
        }
        self.body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What the stub does with a request.
#[derive(Clone, Debug)]
pub struct StubReply {
    pub status: u16,
    pub body: String,
    /// Waits this long before answering (a slow server; longer than the client's timeout, a
    /// hung one).
    pub delay: Duration,
    /// Closes the connection without answering.
    pub hang_up: bool,
    /// Sent as a `Retry-After` header (seconds).
    pub retry_after: Option<u64>,
}

impl StubReply {
    pub fn json(value: &Value) -> Self {
        StubReply {
            status: 200,
            body: value.to_string(),
            delay: Duration::ZERO,
            hang_up: false,
            retry_after: None,
        }
    }

    /// A chat completion whose first choice says `text`.
    pub fn chat(text: &str) -> Self {
        Self::json(&json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}]
        }))
    }

    /// A text completion of `text`, with `logprobs` as given (`Null` for none).
    pub fn completion(text: &str, logprobs: Value) -> Self {
        Self::json(&json!({
            "object": "text_completion",
            "choices": [{"index": 0, "text": text, "logprobs": logprobs,
                         "finish_reason": "length"}]
        }))
    }

    pub fn status(status: u16) -> Self {
        StubReply {
            status,
            body: json!({"error": {"message": format!("stub says {status}")}}).to_string(),
            delay: Duration::ZERO,
            hang_up: false,
            retry_after: None,
        }
    }

    /// A 200 whose body is cut off mid-JSON.
    pub fn malformed() -> Self {
        StubReply {
            status: 200,
            body: r#"{"choices": [{"message": {"content": "cut of"#.into(),
            delay: Duration::ZERO,
            hang_up: false,
            retry_after: None,
        }
    }

    pub fn hang_up() -> Self {
        StubReply {
            hang_up: true,
            ..Self::status(500)
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&StubRequest) -> StubReply + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    log: Mutex<Vec<StubRequest>>,
    seen: Mutex<HashMap<String, usize>>,
    stopping: AtomicBool,
}

pub struct StubServer {
    address: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl StubServer {
    pub fn start(handler: impl Fn(&StubRequest) -> StubReply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let address = listener.local_addr().expect("local address").to_string();
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            seen: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        StubServer {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL to give a client.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<StubRequest> {
        self.shared.log.lock().expect("stub log").clone()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(&self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let Some((path, raw, authorization)) = read_request(&stream) else {
        return;
    };
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let seen = {
        let mut seen = shared.seen.lock().expect("stub counts");
        let count = seen
            .entry(format!("{path} {}", canonical_json(&body)))
            .or_insert(0);
        *count += 1;
        *count
    };
    let request = StubRequest {
        path,
        body,
        authorization,
        seen,
    };
    shared.log.lock().expect("stub log").push(request.clone());
    let reply = (shared.handler)(&request);
    std::thread::sleep(reply.delay);
    let mut stream = stream;
    if reply.hang_up {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let reason = if reply.status < 400 { "OK" } else { "Error" };
    let retry_after = reply
        .retry_after
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         {retry_after}Connection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
    let _ = stream.flush();
}

/// Path, body and Authorization header of one HTTP/1.1 request with a Content-Length body.
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>, Option<String>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw).ok()?;
    Some((path, raw, authorization))
}
