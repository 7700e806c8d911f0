//! `probe`: what a trained model knows, read three ways (Allen-Zhu & Li, Physics of LMs 3.1):
//! greedy answers to QA prompts with exact-match accuracy per attribute, hidden states at chosen
//! positions for linear probes (P-probing on biographies, Q-probing on names), and the
//! log-likelihood of the options of multiple-choice questions.
//!
//! Every input starts with the end-of-text token, as every document in the shards does.

mod generate;
mod hidden;
mod loaded;
mod score;

pub use generate::{accuracy_table, answer, generate, GenerateOptions, GenerateSummary, Split};
pub use hidden::{
    hidden, resolve_layers, value_positions, HiddenInput, HiddenOptions, HiddenSummary, LayerSpec,
    PositionSpec, NAME_END,
};
pub use loaded::{LoadedModel, ModelSource, END_OF_TEXT};
pub use score::{score, score_options, ScoreOptions, ScoreSummary};
