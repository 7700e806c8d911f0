//! `augment`: finetuning documents augmented with inferences (Lampinen et al. 2025 §3).
//!
//! Reads knowledge documents (or bioS biographies), passes them through, and adds what an
//! augmenter derives from them: `local` (each sentence rephrased and its direct inferences
//! stated), `global` (inferences linking a document to the rest of the training set),
//! `paraphrase` (whole-document paraphrases) and `rewrite-bio` (bioR-style rewrites that must
//! keep all six attribute values). The augmenter is a served model behind an OpenAI-compatible
//! API, or the `rules` oracle that derives the same kinds of text from the structured facts.
//! Output documents can be split into sentences. Served requests go through a crash-safe cache,
//! so a rerun after an interruption sends only what was never answered.

mod prompts;
mod relations;
mod rewrite;
mod rules;
mod run;
mod sentences;
mod served;

pub use relations::{ComposeRule, Relations};
pub use run::{run, Options, Summary};
pub use sentences::{clean_reply, sentences, split_document, Split};
pub use served::SamplingSettings;

/// What kind of augmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Each sentence rephrased, with its direct inferences (reversals).
    Local,
    /// Inferences linking each document to the rest of the training set.
    Global,
    /// Paraphrases of each whole document (--paraphrases per document).
    Paraphrase,
    /// bioR-style rewrites of bioS entries that keep all six attribute values.
    RewriteBio,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Local => "local",
            Strategy::Global => "global",
            Strategy::Paraphrase => "paraphrase",
            Strategy::RewriteBio => "rewrite-bio",
        }
    }

    /// Separates the seed streams of the strategies.
    fn stream(self) -> u64 {
        match self {
            Strategy::Local => 1,
            Strategy::Global => 2,
            Strategy::Paraphrase => 3,
            Strategy::RewriteBio => 4,
        }
    }
}

/// Who writes the augmentations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A model behind an OpenAI-compatible server (--endpoint, --model).
    Served,
    /// No model: reversals, paraphrase templates and two-hop inferences from the `facts`
    /// column and a relations file.
    Rules,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Served => "served",
            Backend::Rules => "rules",
        }
    }
}

/// The words the rules backend states derived facts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Wording {
    /// The relations file's `templates`, which the datasets' documents and test options use:
    /// the right options appear verbatim, so the oracle bounds recall, not generalisation.
    Test,
    /// Only the relations file's `reworded` templates, which no document or test uses.
    Disjoint,
}

/// How a served text was asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    pub model: String,
    pub request_key: String,
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
    pub sample_seed: u64,
}

/// One augmentation document before sentence splitting.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    pub source_id: u32,
    pub dataset: String,
    pub text: String,
    pub strategy: Strategy,
    /// `None` for the rules backend.
    pub provenance: Option<Provenance>,
}
