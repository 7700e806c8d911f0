//! Prompt files (`data/augment/<strategy>.toml`): a system instruction, a user template with
//! `{placeholders}`, and few-shot examples that fill the same template.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use factlab_served::Message;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompt {
    system: String,
    user: String,
    #[serde(default, rename = "example")]
    examples: Vec<BTreeMap<String, String>>,
}

impl Prompt {
    /// Reads `<folder>/<name>.toml` and checks that every example fills `placeholders` and has
    /// a `reply`.
    pub fn load(folder: &Path, name: &str, placeholders: &[&str]) -> Result<Self> {
        let path = folder.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the prompt file {}", path.display()))?;
        let prompt: Prompt =
            toml::from_str(&text).with_context(|| format!("prompt file {}", path.display()))?;
        for key in placeholders {
            if !prompt.user.contains(&format!("{{{key}}}")) {
                bail!("{}: `user` lacks the placeholder {{{key}}}", path.display());
            }
        }
        for (index, example) in prompt.examples.iter().enumerate() {
            for key in placeholders.iter().chain(&["reply"]) {
                if !example.contains_key(*key) {
                    bail!("{}: example {} lacks `{key}`", path.display(), index + 1);
                }
            }
        }
        Ok(prompt)
    }

    /// The chat: system message, the examples as user / assistant turns, then the query.
    pub fn messages(&self, values: &[(&str, &str)]) -> Vec<Message> {
        let mut messages = vec![Message::system(self.system.trim())];
        for example in &self.examples {
            let pairs: Vec<(&str, &str)> = example
                .iter()
                .map(|(k, v)| (k.as_str(), v.trim()))
                .collect();
            messages.push(Message::user(fill(self.user.trim(), &pairs)));
            messages.push(Message::assistant(example["reply"].trim()));
        }
        messages.push(Message::user(fill(self.user.trim(), values)));
        messages
    }
}

/// Replaces `{key}` by its value in one pass: braces inside the values are left as they are.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    'scan: while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        for (key, value) in values {
            if let Some(after) = tail
                .strip_prefix('{')
                .and_then(|t| t.strip_prefix(*key))
                .and_then(|t| t.strip_prefix('}'))
            {
                out.push_str(value);
                rest = after;
                continue 'scan;
            }
        }
        out.push('{');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fills_once_and_leaves_braces_in_values_alone() {
        assert_eq!(
            fill("A {x} and {y} {z}", &[("x", "{y}"), ("y", "b")]),
            "A {y} and b {z}"
        );
    }
}
