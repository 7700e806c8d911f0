//! Fixtures shared by augment's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use augment::{Backend, Options, SamplingSettings, Split, Strategy};
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
