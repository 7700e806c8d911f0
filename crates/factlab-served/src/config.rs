use std::ops::Bound::{Excluded, Included};
use std::path::PathBuf;
use std::time::Duration;

use factlab_cli::{finite_f64_in, int_in, positive, Bounds, FloatRange};

use crate::{Result, ServedError};

/// Seconds one exchange may take: above 0, at most a day.
fn timeout_seconds() -> FloatRange {
    finite_f64_in((Excluded(0.0), Included(86_400.0)))
}

/// Seconds before the first retry: 0 to an hour.
fn backoff_seconds() -> FloatRange {
    finite_f64_in(0.0..=3_600.0)
}

/// The environment variable an API key is read from unless `--api-key-env` names another.
pub const DEFAULT_API_KEY_ENV: &str = "FACTLAB_API_KEY";

/// Where the server is and how patiently to talk to it.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:8731`; `/v1/...` is appended (a trailing `/v1` is
    /// accepted too).
    pub endpoint: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when present.
    pub api_key: Option<String>,
    /// For one HTTP exchange, connection included.
    pub timeout: Duration,
    /// Tries after the first before giving up.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles with each retry up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Worker threads of [`crate::Client::map_ordered`]: requests in flight at once.
    pub concurrency: usize,
    /// The request cache file; `None` sends every request.
    pub cache: Option<PathBuf>,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>, model: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            max_retries: 6,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            concurrency: 4,
            cache: None,
        }
    }
}

/// The flags of a stage that talks to a served model; flatten with `#[command(flatten)]`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServedArgs {
    /// Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama), e.g.
    /// http://127.0.0.1:8731.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Model name sent with every request (and part of every cache key).
    #[arg(long)]
    pub model: Option<String>,
    /// Environment variable holding the API key; unset or empty sends none.
    #[arg(long, value_name = "VAR", default_value = DEFAULT_API_KEY_ENV)]
    pub api_key_env: String,
    /// Seconds one HTTP exchange may take before it is abandoned and retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0, value_parser = timeout_seconds())]
    pub timeout: f64,
    /// Retries of a request after 429, 5xx, a timeout, a lost connection or a malformed reply.
    #[arg(long, default_value_t = 6, value_parser = int_in(0..=1_000u32))]
    pub retries: u32,
    /// Seconds before the first retry; doubles with each retry, at most 30 s.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5, value_parser = backoff_seconds())]
    pub backoff: f64,
    /// Requests in flight at once (1 to 1,024).
    #[arg(long, default_value_t = 4, value_parser = positive::<u32>().at_most(1_024))]
    pub concurrency: u32,
    /// Request cache (JSON lines): answered requests are never sent again.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
}

impl ServedArgs {
    /// The client configuration; fails when no endpoint or model is given.
    pub fn config(&self) -> Result<ClientConfig> {
        let endpoint = self
            .endpoint
            .clone()
            .ok_or_else(|| ServedError::Config("--endpoint URL is required".into()))?;
        let model = self
            .model
            .clone()
            .ok_or_else(|| ServedError::Config("--model NAME is required".into()))?;
        // The flags' own bounds, again for options filled in code: Duration::from_secs_f64
        // panics on a value too large for it.
        let seconds = |flag: &str, bounds: FloatRange, value: f64| {
            bounds
                .check(flag, value)
                .map(Duration::from_secs_f64)
                .map_err(|e| ServedError::Config(e.to_string()))
        };
        let mut config = ClientConfig::new(endpoint, model);
        config.api_key = std::env::var(&self.api_key_env)
            .ok()
            .filter(|key| !key.is_empty());
        config.timeout = seconds("--timeout", timeout_seconds(), self.timeout)?;
        config.max_retries = self.retries;
        config.backoff = seconds("--backoff", backoff_seconds(), self.backoff)?;
        config.concurrency = self.concurrency as usize;
        config.cache = self.cache.clone();
        Ok(config)
    }
}
