//! The request cache: one JSON line per answered request, `{"key": …, "reply": …}`, appended
//! and fsynced before the reply is used. A crash can only tear the last line, which is dropped
//! (and cut off the file) on the next open, so the file never holds a half record that a later
//! append would run into.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Result, ServedError};

/// JSON text with object keys sorted at every level: the same request hashes the same whatever
/// order a map was built in (serde_json's `preserve_order` feature may be on or off in a build).
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The cache key of a request: hex SHA-256 of the endpoint path, the whole body (model, prompt or
/// messages, sampling settings) and the caller's attempt number. The server's address is left
/// out, so the same server moved to another port keeps its cache.
pub fn request_key(path: &str, body: &Value, attempt: u32) -> String {
    let text = canonical_json(&json!({"path": path, "body": body, "attempt": attempt}));
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct RequestCache {
    path: PathBuf,
    file: Mutex<File>,
    entries: Mutex<HashMap<String, Value>>,
}

impl RequestCache {
    /// Opens (or creates) the cache file and loads every complete record.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| ServedError::Cache {
            path: path.to_path_buf(),
            source,
        };
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < bytes.len() {
            tracing::warn!(
                "{}: dropping a torn last record ({} bytes) left by an interrupted run",
                path.display(),
                bytes.len() - complete
            );
            file.set_len(complete as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        let mut entries = HashMap::new();
        let mut unreadable = 0usize;
        for line in bytes[..complete].split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let record: Option<(String, Value)> = serde_json::from_slice::<Value>(line)
                .ok()
                .and_then(|mut v| {
                    let key = v.get("key")?.as_str()?.to_string();
                    Some((key, v.get_mut("reply")?.take()))
                });
            match record {
                Some((key, reply)) => {
                    entries.insert(key, reply);
                }
                None => unreadable += 1,
            }
        }
        if unreadable > 0 {
            tracing::warn!(
                "{}: skipped {unreadable} unreadable records",
                path.display()
            );
        }
        Ok(RequestCache {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            entries: Mutex::new(entries),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries.lock().expect("cache lock").get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a record and waits until it is on disk: a reply is used only once it is durable,
    /// so nothing that reached the output can be lost by a crash and asked for again.
    pub fn insert(&self, key: &str, reply: &Value) -> Result<()> {
        let mut line = canonical_json(&json!({"key": key, "reply": reply}));
        line.push('\n');
        {
            let mut file = self.file.lock().expect("cache lock");
            let io = |source| ServedError::Cache {
                path: self.path.clone(),
                source,
            };
            file.write_all(line.as_bytes()).map_err(io)?;
            file.flush().map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        self.entries
            .lock()
            .expect("cache lock")
            .insert(key.to_string(), reply.clone());
        Ok(())
    }
}
