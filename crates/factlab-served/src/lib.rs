//! A blocking client for OpenAI-compatible model servers (vLLM, llama.cpp's server, Ollama,
//! llama-cpp-python): `/v1/chat/completions` and `/v1/completions`, the latter with the
//! `logprobs` / `echo` fields that scoring text by likelihood needs.
//!
//! What every caller of a served model in factlab needs and none should write twice:
//! - retries with exponential backoff on 429, 5xx, timeouts, connection errors and replies that
//!   do not parse; jitter is derived from the request itself, so a run has no hidden randomness;
//! - a per-request timeout and a fixed number of worker threads ([`Client::map_ordered`]), with
//!   results in input order whatever order the server answers in;
//! - a request cache on disk ([`RequestCache`]): every answered request is appended and fsynced
//!   before it is used, so a rerun or a run resumed after a crash never sends it again.
//!
//! Nothing here knows what the text is for: prompts are built by the caller.

mod api;
mod cache;
mod client;
mod config;
mod error;
mod ordered;
#[cfg(feature = "stub")]
pub mod stub;

pub use api::{
    ChatRequest, Completion, CompletionRequest, LogprobOptions, Message, Reply, Sampling,
    TokenLogprobs,
};
pub use cache::{canonical_json, request_key, RequestCache};
pub use client::{Client, Stats};
pub use config::{ClientConfig, ServedArgs, DEFAULT_API_KEY_ENV};
pub use error::{Result, ServedError};
pub use ordered::{map_ordered, try_map_ordered};
