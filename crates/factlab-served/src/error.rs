use std::path::PathBuf;

pub type Result<T, E = ServedError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ServedError {
    /// Every try failed in a way worth retrying (busy server, timeouts, bad replies).
    #[error("{url}: no usable reply after {tries} tries; last: {last}")]
    GaveUp {
        url: String,
        tries: u32,
        last: String,
    },
    /// The server refused the request itself (a 4xx other than 408 / 429): retrying cannot help.
    #[error("{url}: HTTP {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    /// A reply that parsed but lacks what was asked for (e.g. no log-probabilities).
    #[error("{url}: {message}")]
    Unsupported { url: String, message: String },
    #[error("request cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}
