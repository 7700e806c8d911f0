use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use factlab_rng::Rng;
use serde_json::Value;

use crate::api::{parse_chat, parse_completion};
use crate::{
    map_ordered, request_key, try_map_ordered, ChatRequest, ClientConfig, Completion,
    CompletionRequest, LogprobOptions, Reply, RequestCache, Result, Sampling, ServedError,
};

/// Counts since the client was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent, retries included.
    pub sent: u64,
    /// Requests answered by the server with a usable reply.
    pub answered: u64,
    /// Requests answered from the cache without being sent.
    pub cache_hits: u64,
    /// Tries that failed and were retried.
    pub retries: u64,
}

/// A blocking client; share it between threads by reference.
pub struct Client {
    config: ClientConfig,
    base: String,
    agent: ureq::Agent,
    cache: Option<RequestCache>,
    sent: AtomicU64,
    answered: AtomicU64,
    cache_hits: AtomicU64,
    retries: AtomicU64,
}

/// Why one try failed, and whether another try may succeed.
enum TryError {
    /// With the wait the server asked for (`Retry-After`), if any.
    Retry(String, Option<Duration>),
    Fatal(ServedError),
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self> {
        if config.concurrency == 0 {
            return Err(ServedError::Config("concurrency must be at least 1".into()));
        }
        let trimmed = config.endpoint.trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_string();
        if !base.starts_with("http://") {
            return Err(ServedError::Config(format!(
                "endpoint `{}`: expected an http:// URL (this client speaks plain HTTP only; \
                 put a TLS proxy in front of remote servers)",
                config.endpoint
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_idle_connections_per_host(config.concurrency)
            .build()
            .into();
        let cache = config
            .cache
            .as_deref()
            .map(RequestCache::open)
            .transpose()?;
        Ok(Client {
            config,
            base,
            agent,
            cache,
            sent: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    pub fn stats(&self) -> Stats {
        Stats {
            sent: self.sent.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// `/v1/chat/completions`: the first choice's message.
    pub fn chat(&self, request: &ChatRequest) -> Result<Reply<Completion>> {
        let body = request.body(&self.config.model);
        self.exchange("/v1/chat/completions", &body, request.attempt, parse_chat)
    }

    /// `/v1/completions`: the first choice's text, with log-probabilities if asked for.
    pub fn complete(&self, request: &CompletionRequest) -> Result<Reply<Completion>> {
        let body = request.body(&self.config.model);
        let path = "/v1/completions";
        let reply = self.exchange(path, &body, request.attempt, parse_completion)?;
        if request.logprobs.is_some() && reply.value.logprobs.is_none() {
            return Err(ServedError::Unsupported {
                url: self.url(path),
                message: "asked for logprobs but the reply has none".into(),
            });
        }
        Ok(reply)
    }

    /// Token log-probabilities of `prompt` (with `echo`) and of `max_tokens` greedy tokens after
    /// it. To score a text, pass `echo: true` and `max_tokens: 1` and ignore the tokens whose
    /// `text_offset` is at or past the prompt's length: llama-cpp-python reads `max_tokens: 0`
    /// as "no limit". Its server also shifts echoed log-probabilities by one position for
    /// models that add no BOS token; prefix the prompt with the model's BOS text there (see
    /// RUST-NOTES, "A real served model, offline").
    pub fn complete_logprobs(
        &self,
        prompt: &str,
        options: LogprobOptions,
        max_tokens: u32,
    ) -> Result<Reply<Completion>> {
        self.complete(&CompletionRequest {
            prompt: prompt.to_string(),
            sampling: Sampling::greedy(max_tokens),
            logprobs: Some(options),
            attempt: 0,
        })
    }

    /// `work` on every item with `concurrency` threads; results in input order.
    pub fn map_ordered<I: Sync, O: Send>(
        &self,
        items: &[I],
        work: impl Fn(&I) -> O + Sync,
        on_done: impl Fn(&O) + Sync,
    ) -> Vec<O> {
        map_ordered(self.config.concurrency, items, work, on_done)
    }

    /// [`Client::map_ordered`] for fallible work: stops starting items after the first failure.
    pub fn try_map_ordered<I: Sync, O: Send, E: Send>(
        &self,
        items: &[I],
        work: impl Fn(&I) -> std::result::Result<O, E> + Sync,
        on_done: impl Fn(&O) + Sync,
    ) -> std::result::Result<Vec<O>, E> {
        try_map_ordered(self.config.concurrency, items, work, on_done)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The cached reply, or the server's after as many tries as allowed; a reply is cached only
    /// once `parse` accepts it.
    fn exchange<T>(
        &self,
        path: &str,
        body: &Value,
        attempt: u32,
        parse: impl Fn(&Value) -> std::result::Result<T, String>,
    ) -> Result<Reply<T>> {
        let key = request_key(path, body, attempt);
        if let Some(cached) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            if let Ok(value) = parse(&cached) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Reply {
                    value,
                    key,
                    cached: true,
                });
            }
        }
        let url = self.url(path);
        let mut retry = 0;
        loop {
            let outcome = self
                .try_once(&url, body)
                .and_then(|reply| match parse(&reply) {
                    Ok(value) => Ok((reply, value)),
                    Err(why) => Err(TryError::Retry(format!("unusable reply: {why}"), None)),
                });
            match outcome {
                Ok((reply, value)) => {
                    if let Some(cache) = &self.cache {
                        cache.insert(&key, &reply)?;
                    }
                    self.answered.fetch_add(1, Ordering::Relaxed);
                    return Ok(Reply {
                        value,
                        key,
                        cached: false,
                    });
                }
                Err(TryError::Fatal(error)) => return Err(error),
                Err(TryError::Retry(why, _)) if retry >= self.config.max_retries => {
                    return Err(ServedError::GaveUp {
                        url,
                        tries: retry + 1,
                        last: why,
                    })
                }
                Err(TryError::Retry(why, asked)) => {
                    // A server's own Retry-After is honoured up to the longest backoff.
                    let wait = self
                        .backoff(&key, retry)
                        .max(asked.unwrap_or_default().min(self.config.max_backoff));
                    tracing::debug!("{url}: {why}; retry {} in {wait:?}", retry + 1);
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(wait);
                    retry += 1;
                }
            }
        }
    }

    /// Doubling waits with jitter in [½, 1) of the step; the jitter comes from the request's key,
    /// so it spreads concurrent retries without any unseeded randomness.
    fn backoff(&self, key: &str, retry: u32) -> Duration {
        let step = self
            .config
            .backoff
            .saturating_mul(1u32 << retry.min(20))
            .min(self.config.max_backoff);
        let seed = u64::from_str_radix(&key[..16], 16).unwrap_or(0);
        let jitter = 0.5 + 0.5 * Rng::derive(seed, &[retry as u64]).unit_f64();
        step.mul_f64(jitter)
    }

    fn try_once(&self, url: &str, body: &Value) -> std::result::Result<Value, TryError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut request = self.agent.post(url);
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.send_json(body).map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(transport_error)?;
        match status {
            200..=299 => serde_json::from_str(&text)
                .map_err(|e| TryError::Retry(format!("malformed JSON reply: {e}"), None)),
            408 | 429 | 500..=599 => Err(TryError::Retry(
                format!("HTTP {status}: {}", shorten(&text)),
                retry_after,
            )),
            _ => Err(TryError::Fatal(ServedError::Refused {
                url: url.to_string(),
                status,
                body: shorten(&text),
            })),
        }
    }
}

fn transport_error(error: ureq::Error) -> TryError {
    match error {
        ureq::Error::Timeout(_)
        | ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => TryError::Retry(error.to_string(), None),
        other => TryError::Fatal(ServedError::Config(other.to_string())),
    }
}

fn shorten(text: &str) -> String {
    const LIMIT: usize = 300;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}
