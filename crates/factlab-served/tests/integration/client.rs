//! The client against the fault-injecting stub: what is retried, what is not, timeouts, the
//! cache, ordering under concurrency, and completions with log-probabilities.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use factlab_served::stub::{StubReply, StubServer};
use factlab_served::{
    request_key, ChatRequest, Client, ClientConfig, LogprobOptions, Message, Sampling, ServedError,
};
use serde_json::json;

fn config(server: &StubServer) -> ClientConfig {
    let mut config = ClientConfig::new(server.url(), "stub-model");
    config.timeout = Duration::from_secs(5);
    config.backoff = Duration::from_millis(2);
    config.max_backoff = Duration::from_millis(20);
    config.max_retries = 4;
    config
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("be brief"), Message::user(text)],
        sampling: Sampling::greedy(16),
        attempt: 0,
    }
}

/// The reply the stub gives once its faults are used up: the prompt, upper-cased.
fn answer(text: &str) -> StubReply {
    StubReply::chat(&text.to_uppercase())
}

#[test]
fn retries_500_429_malformed_and_hang_ups_then_succeeds() {
    let server = StubServer::start(|request| match request.seen {
        1 => StubReply::status(500),
        2 => StubReply::status(429),
        3 => StubReply::malformed(),
        4 => StubReply::hang_up(),
        _ => answer(request.last_text()),
    });
    let client = Client::new(config(&server)).unwrap();
    let reply = client.chat(&ask("glon")).unwrap();
    assert_eq!(reply.value.text, "GLON");
    assert!(!reply.cached);
    assert_eq!(server.requests().len(), 5);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.retries, stats.answered), (5, 4, 1));
}

#[test]
fn a_reply_slower_than_the_timeout_is_abandoned_and_retried() {
    let server = StubServer::start(|request| match request.seen {
        1 => answer("late").after(Duration::from_secs(3)),
        _ => answer(request.last_text()),
    });
    let mut config = config(&server);
    config.timeout = Duration::from_millis(300);
    let client = Client::new(config).unwrap();
    let start = Instant::now();
    let reply = client.chat(&ask("femp")).unwrap();
    assert_eq!(reply.value.text, "FEMP");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "waited for the hung reply"
    );
    assert_eq!(client.stats().retries, 1);
}

#[test]
fn retry_after_is_honoured_up_to_the_longest_backoff() {
    let server = StubServer::start(|request| match request.seen {
        1 => StubReply::status(429).retry_after(5),
        _ => answer(request.last_text()),
    });
    let mut config = config(&server);
    config.max_backoff = Duration::from_millis(300);
    let client = Client::new(config).unwrap();
    let start = Instant::now();
    assert_eq!(client.chat(&ask("wug")).unwrap().value.text, "WUG");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn a_slow_reply_within_the_timeout_is_not_retried() {
    let server =
        StubServer::start(|request| answer(request.last_text()).after(Duration::from_millis(200)));
    let client = Client::new(config(&server)).unwrap();
    assert_eq!(client.chat(&ask("yomp")).unwrap().value.text, "YOMP");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(client.stats().retries, 0);
}

#[test]
fn gives_up_after_the_last_retry_and_does_not_retry_a_refusal() {
    let server = StubServer::start(|request| match request.last_text() {
        "busy" => StubReply::status(503),
        _ => StubReply::status(400),
    });
    let client = Client::new(config(&server)).unwrap();
    match client.chat(&ask("busy")) {
        Err(ServedError::GaveUp { tries, last, .. }) => {
            assert_eq!(tries, 5);
            assert!(last.contains("503"), "{last}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(matches!(
        client.chat(&ask("bad")),
        Err(ServedError::Refused { status: 400, .. })
    ));
    assert_eq!(server.requests().len(), 5 + 1);
}

#[test]
fn unreachable_server_is_a_connection_error_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}/v1/"), "m");
    config.backoff = Duration::from_millis(1);
    config.max_retries = 2;
    let client = Client::new(config).unwrap();
    assert!(matches!(
        client.chat(&ask("x")),
        Err(ServedError::GaveUp { tries: 3, .. })
    ));
}

#[test]
fn cached_requests_are_never_sent_again_and_the_attempt_is_part_of_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = StubServer::start(|request| answer(request.last_text()));
    let mut config = config(&server);
    config.cache = Some(dir.path().join("cache/requests.jsonl"));
    {
        let client = Client::new(config.clone()).unwrap();
        assert!(!client.chat(&ask("glon")).unwrap().cached);
    }
    let client = Client::new(config).unwrap();
    let again = client.chat(&ask("glon")).unwrap();
    assert!(again.cached);
    assert_eq!(again.value.text, "GLON");
    assert_eq!(server.requests().len(), 1);
    let retry = ChatRequest {
        attempt: 1,
        ..ask("glon")
    };
    assert!(!client.chat(&retry).unwrap().cached);
    let mut other_sampling = ask("glon");
    other_sampling.sampling.temperature = 0.7;
    assert!(!client.chat(&other_sampling).unwrap().cached);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(client.stats().cache_hits, 1);
}

#[test]
fn a_torn_last_cache_line_is_dropped_and_later_records_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let server = StubServer::start(|request| answer(request.last_text()));
    let mut config = config(&server);
    config.cache = Some(path.clone());
    Client::new(config.clone())
        .unwrap()
        .chat(&ask("one"))
        .unwrap();
    // What a kill in the middle of an append leaves behind.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"key":"abc","reply":{"choi"#);
    std::fs::write(&path, &bytes).unwrap();

    let client = Client::new(config).unwrap();
    assert!(client.chat(&ask("one")).unwrap().cached);
    assert!(!client.chat(&ask("two")).unwrap().cached);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every line is a whole record");
    }
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn results_come_back_in_input_order_whatever_order_they_finish_in() {
    // Earlier prompts answer later, so completion order is the reverse of input order.
    let server = StubServer::start(|request| {
        let n: u64 = request.last_text().parse().unwrap();
        answer(&format!("r{n}")).after(Duration::from_millis(10 * (12 - n)))
    });
    let mut config = config(&server);
    config.concurrency = 4;
    let client = Client::new(config).unwrap();
    let prompts: Vec<String> = (0..12).map(|n| n.to_string()).collect();
    let done = AtomicUsize::new(0);
    let replies = client.map_ordered(
        &prompts,
        |p| client.chat(&ask(p)).unwrap().value.text,
        |_| {
            done.fetch_add(1, Ordering::Relaxed);
        },
    );
    let expected: Vec<String> = (0..12).map(|n| format!("R{n}")).collect();
    assert_eq!(replies, expected);
    assert_eq!(done.load(Ordering::Relaxed), 12);
}

#[test]
fn try_map_ordered_stops_starting_work_after_a_failure() {
    let server = StubServer::start(|request| match request.last_text() {
        "3" => StubReply::status(404),
        text => answer(text),
    });
    let mut config = config(&server);
    config.concurrency = 1;
    let client = Client::new(config).unwrap();
    let prompts: Vec<String> = (0..10).map(|n| n.to_string()).collect();
    let result = client.try_map_ordered(&prompts, |p| client.chat(&ask(p)), |_| {});
    assert!(matches!(
        result,
        Err(ServedError::Refused { status: 404, .. })
    ));
    assert_eq!(
        server.requests().len(),
        4,
        "items after the failure were started"
    );
}

#[test]
fn completions_return_token_logprobs_with_offsets_and_send_the_api_key() {
    let seen_key = Arc::new(std::sync::Mutex::new(None));
    let server = {
        let seen_key = Arc::clone(&seen_key);
        StubServer::start(move |request| {
            *seen_key.lock().unwrap() = request.authorization.clone();
            assert_eq!(request.path, "/v1/completions");
            assert_eq!(request.body["echo"], json!(true));
            assert_eq!(request.body["logprobs"], json!(2));
            StubReply::completion(
                "glon are big",
                json!({
                    "tokens": ["glon", " are", " big"],
                    "token_logprobs": [null, -0.5, -1.25],
                    "text_offset": [0, 4, 8],
                    "top_logprobs": [null, {" are": -0.5, " is": -1.0}, {" big": -1.25, " small": -0.75}]
                }),
            )
        })
    };
    let mut config = config(&server);
    config.api_key = Some("sekrit".into());
    let client = Client::new(config).unwrap();
    let reply = client
        .complete_logprobs("glon are big", LogprobOptions { top: 2, echo: true }, 0)
        .unwrap();
    let logprobs = reply.value.logprobs.unwrap();
    assert_eq!(logprobs.tokens, ["glon", " are", " big"]);
    assert_eq!(logprobs.token_logprobs, [None, Some(-0.5), Some(-1.25)]);
    assert_eq!(logprobs.text_offset, [0, 4, 8]);
    assert_eq!(logprobs.top_logprobs[0], []);
    assert_eq!(
        logprobs.top_logprobs[2],
        [(" big".to_string(), -1.25), (" small".to_string(), -0.75)]
    );
    assert_eq!(seen_key.lock().unwrap().as_deref(), Some("Bearer sekrit"));
}

#[test]
fn a_completion_without_the_logprobs_asked_for_is_an_error() {
    let server = StubServer::start(|_| StubReply::completion("x", serde_json::Value::Null));
    let client = Client::new(config(&server)).unwrap();
    let result = client.complete_logprobs(
        "x",
        LogprobOptions {
            top: 1,
            echo: false,
        },
        1,
    );
    assert!(matches!(result, Err(ServedError::Unsupported { .. })));
}

#[test]
fn request_keys_ignore_map_order_but_not_content() {
    let a = json!({"model": "m", "prompt": "p", "temperature": 0.0});
    let b: serde_json::Value =
        serde_json::from_str(r#"{"temperature": 0.0, "prompt": "p", "model": "m"}"#).unwrap();
    assert_eq!(
        request_key("/v1/completions", &a, 0),
        request_key("/v1/completions", &b, 0)
    );
    assert_ne!(
        request_key("/v1/completions", &a, 0),
        request_key("/v1/completions", &a, 1)
    );
    assert_ne!(
        request_key("/v1/completions", &a, 0),
        request_key("/v1/chat/completions", &a, 0)
    );
    assert_eq!(request_key("/v1/completions", &a, 0).len(), 64);
}
