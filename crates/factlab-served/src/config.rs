use std::path::PathBuf;
use std::time::Duration;

use crate::{Result, ServedError};

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
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub timeout: f64,
    /// Retries of a request after 429, 5xx, a timeout, a lost connection or a malformed reply.
    #[arg(long, default_value_t = 6)]
    pub retries: u32,
    /// Seconds before the first retry; doubles with each retry, at most 30 s.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5)]
    pub backoff: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
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
        let seconds = |flag: &str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(ServedError::Config(format!(
                    "--{flag} {value}: expected a number of seconds ≥ 0"
                )))
            }
        };
        let mut config = ClientConfig::new(endpoint, model);
        config.api_key = std::env::var(&self.api_key_env)
            .ok()
            .filter(|key| !key.is_empty());
        config.timeout = seconds("timeout", self.timeout)?;
        config.max_retries = self.retries;
        config.backoff = seconds("backoff", self.backoff)?;
        config.concurrency = self.concurrency as usize;
        config.cache = self.cache.clone();
        Ok(config)
    }
}
