//! Fixtures shared by augment's tests.

use std::path::{Path, PathBuf};

use augment::{Backend, Options, SamplingSettings, Split, Strategy, Wording};
use factlab_artifacts::{Knowledge, Triple};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture_relations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relations.toml")
}

pub fn fact(subject: &str, relation: &str, object: &str) -> Triple {
    Triple {
        subject: subject.into(),
        relation: relation.into(),
        object: object.into(),
    }
}

pub fn knowledge(id: u32, text: &str, facts: Vec<Triple>) -> Knowledge {
    Knowledge {
        id,
        dataset: "fixture".into(),
        entity: None,
        entity_type: None,
        text: text.into(),
        paraphrases: Vec::new(),
        facts,
    }
}

pub fn options(input: &Path, output: &Path, strategies: &[Strategy], backend: Backend) -> Options {
    Options {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        strategies: strategies.to_vec(),
        backend,
        split: Split::None,
        seed: 7,
        relations: fixture_relations(),
        wording: Wording::Test,
        prompts: repo_root().join("data/augment"),
        people: None,
        paraphrases: 2,
        rewrites: 1,
        max_attempts: 3,
        context_tokens: 32768,
        sampling: SamplingSettings {
            temperature: 0.7,
            top_p: 0.95,
            max_tokens: 256,
        },
        served: None,
    }
}

/// A client configuration for a stub server: quick retries, a cache in `dir`.
pub fn stub_client(url: &str, dir: &Path) -> factlab_served::ClientConfig {
    let mut config = factlab_served::ClientConfig::new(url, "stub-model");
    config.timeout = std::time::Duration::from_secs(5);
    config.backoff = std::time::Duration::from_millis(1);
    config.max_backoff = std::time::Duration::from_millis(5);
    config.concurrency = 3;
    config.cache = Some(dir.join("requests.jsonl"));
    config
}

/// The sentence a local-augmentation request asks about.
pub fn statement(text: &str) -> &str {
    text.strip_prefix("Statement: ").unwrap_or(text)
}

/// What the stub answers to a local request: a lead-in line and two list items that name the
/// sentence, so a reply can be traced back to its prompt.
pub fn local_reply(sentence: &str) -> String {
    format!("Here you go:\n1. Restated {sentence}\n2. Reversed {sentence}")
}

/// The reply as augment stores it.
pub fn local_text(sentence: &str) -> String {
    format!("Restated {sentence} Reversed {sentence}")
}
