//! `probe`: what a trained model knows, read three ways (Allen-Zhu & Li, Physics of LMs 3.1):
//! greedy answers to QA prompts with exact-match accuracy per attribute, hidden states at chosen
//! positions for linear probes (P-probing on biographies, Q-probing on names), and the
//! log-likelihood of the options of multiple-choice questions — by our own models, or by a served
//! model with training documents in context (Lampinen et al. 2025).
//!
//! Every input starts with the end-of-text token, as every document in the shards does.

mod generate;
mod hidden;
mod in_context;
mod loaded;
mod score;

pub use generate::{accuracy_table, answer, generate, GenerateOptions, GenerateSummary, Split};
pub use hidden::{
    hidden, resolve_layers, value_positions, HiddenInput, HiddenOptions, HiddenSummary, LayerSpec,
    PositionSpec, NAME_END,
};
pub use in_context::{score_in_context, InContextOptions};
pub use loaded::{LoadedModel, ModelSource, END_OF_TEXT};
pub use score::{score, score_options, ScoreOptions, ScoreSummary};
