//! Requests and replies in the OpenAI shape, built and parsed by hand so that the exact JSON
//! sent (and hashed for the cache) is visible in one place.

use serde_json::{json, Map, Value};

/// One chat message: `role` is `system`, `user` or `assistant`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: "assistant".into(),
            content: content.into(),
        }
    }
}

/// Sampling settings; all of them are sent and all are part of the cache key.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    /// Asks the server for reproducible sampling where it supports it.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

impl Sampling {
    /// Greedy decoding of up to `max_tokens` tokens.
    pub fn greedy(max_tokens: u32) -> Self {
        Sampling {
            temperature: 0.0,
            top_p: 1.0,
            max_tokens,
            seed: None,
            stop: Vec::new(),
        }
    }

    fn write(&self, body: &mut Map<String, Value>) {
        body.insert("temperature".into(), json!(self.temperature));
        body.insert("top_p".into(), json!(self.top_p));
        body.insert("max_tokens".into(), json!(self.max_tokens));
        if let Some(seed) = self.seed {
            body.insert("seed".into(), json!(seed));
        }
        if !self.stop.is_empty() {
            body.insert("stop".into(), json!(self.stop));
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub sampling: Sampling,
    /// Which try at this prompt: a caller that rejects a reply asks again with the next number,
    /// which makes it a different request for the cache (not sent to the server).
    pub attempt: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompletionRequest {
    pub prompt: String,
    pub sampling: Sampling,
    pub logprobs: Option<LogprobOptions>,
    /// See [`ChatRequest::attempt`].
    pub attempt: u32,
}

/// What log-probabilities a completion should return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogprobOptions {
    /// Alternatives per position in `top_logprobs` (the chosen token is always reported).
    pub top: u32,
    /// Also return the prompt's tokens with their log-probabilities (the first has none).
    pub echo: bool,
}

impl ChatRequest {
    pub(crate) fn body(&self, model: &str) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        let messages: Vec<Value> = self
            .messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        self.sampling.write(&mut body);
        Value::Object(body)
    }
}

impl CompletionRequest {
    pub(crate) fn body(&self, model: &str) -> Value {
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert("prompt".into(), json!(self.prompt));
        self.sampling.write(&mut body);
        if let Some(options) = self.logprobs {
            body.insert("logprobs".into(), json!(options.top));
            body.insert("echo".into(), json!(options.echo));
        }
        Value::Object(body)
    }
}

/// A parsed reply and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply<T> {
    pub value: T,
    /// The request's cache key (hex SHA-256); see [`crate::request_key`].
    pub key: String,
    /// Whether it was read from the cache rather than sent.
    pub cached: bool,
}

/// The first choice of a completion (or chat) reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub text: String,
    /// `stop`, `length`, … as the server said; empty when it said nothing.
    pub finish_reason: String,
    pub logprobs: Option<TokenLogprobs>,
}

/// Per-token log-probabilities of a completion, parallel vectors as the server sends them.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprobs {
    pub tokens: Vec<String>,
    /// Natural log; `None` where the server gives none (the first echoed prompt token).
    pub token_logprobs: Vec<Option<f64>>,
    /// Byte offset of each token in prompt + completion text (as the server counts).
    pub text_offset: Vec<u32>,
    /// The `top` most likely tokens at each position with their log-probabilities, sorted by
    /// token text; empty where the server gives none.
    pub top_logprobs: Vec<Vec<(String, f64)>>,
}

fn first_choice(reply: &Value) -> Result<&Value, String> {
    reply
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| "reply has no `choices[0]`".to_string())
}

fn finish_reason(choice: &Value) -> String {
    choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn parse_chat(reply: &Value) -> Result<Completion, String> {
    let choice = first_choice(reply)?;
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .ok_or_else(|| "reply has no `choices[0].message.content` string".to_string())?;
    Ok(Completion {
        text: text.to_string(),
        finish_reason: finish_reason(choice),
        logprobs: None,
    })
}

pub(crate) fn parse_completion(reply: &Value) -> Result<Completion, String> {
    let choice = first_choice(reply)?;
    let text = choice
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| "reply has no `choices[0].text` string".to_string())?;
    let logprobs = match choice.get("logprobs") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_logprobs(value)?),
    };
    Ok(Completion {
        text: text.to_string(),
        finish_reason: finish_reason(choice),
        logprobs,
    })
}

fn parse_logprobs(value: &Value) -> Result<TokenLogprobs, String> {
    let array = |name: &str| -> Result<&Vec<Value>, String> {
        value
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("`logprobs.{name}` is not an array"))
    };
    let bad = |name: &str, i: usize| format!("`logprobs.{name}[{i}]` has the wrong type");
    let tokens = array("tokens")?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("tokens", i))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let token_logprobs = array("token_logprobs")?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Null => Ok(None),
            v => v.as_f64().map(Some).ok_or_else(|| bad("token_logprobs", i)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text_offset = array("text_offset")?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .and_then(|o| u32::try_from(o).ok())
                .ok_or_else(|| bad("text_offset", i))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let top_logprobs = match value.get("top_logprobs") {
        None | Some(Value::Null) => vec![Vec::new(); tokens.len()],
        Some(Value::Array(positions)) => positions
            .iter()
            .enumerate()
            .map(|(i, position)| match position {
                Value::Null => Ok(Vec::new()),
                Value::Object(map) => {
                    let mut top = map
                        .iter()
                        .map(|(token, lp)| {
                            lp.as_f64()
                                .map(|lp| (token.clone(), lp))
                                .ok_or_else(|| bad("top_logprobs", i))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    top.sort_by(|a, b| a.0.cmp(&b.0));
                    Ok(top)
                }
                _ => Err(bad("top_logprobs", i)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err("`logprobs.top_logprobs` is not an array".into()),
    };
    let n = tokens.len();
    if token_logprobs.len() != n || text_offset.len() != n || top_logprobs.len() != n {
        return Err(format!(
            "`logprobs` arrays differ in length: {n} tokens, {} log-probabilities, {} offsets, \
             {} top lists",
            token_logprobs.len(),
            text_offset.len(),
            top_logprobs.len()
        ));
    }
    Ok(TokenLogprobs {
        tokens,
        token_logprobs,
        text_offset,
        top_logprobs,
    })
}
