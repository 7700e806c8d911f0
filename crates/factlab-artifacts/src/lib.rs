//! Artifact schemas and Parquet I/O: the contract between factlab's stages.
//!
//! Every artifact a stage writes is a Parquet file (zstd) whose Arrow schema is defined here by a
//! row type implementing [`Artifact`] and written down for people in `schemas/<name>.toml`; a test
//! fails if the two drift apart. Readers check the schema they are handed and fail with the file,
//! the column, what was expected and what was found. Writers go through a temporary file in the
//! output's folder and rename it when complete, so an interrupted stage leaves no half file.

mod augmented;
mod bios;
mod columns;
mod corpus;
mod error;
mod flat;
mod injections;
mod io;
mod knowledge;
mod logprobs;
mod metrics;
pub mod outputs;
mod probes;
mod probing;
pub mod schema_text;
mod shards;
mod train_log;

pub use augmented::AugmentedRow;
pub use bios::{BioEntry, Person, QaPair, ATTRIBUTES};
pub use corpus::CorpusDocument;
pub use error::{ArtifactError, Result};
pub use injections::Injection;
pub use io::{
    display_path, open_batches, read_rows, write_atomic, write_rows, ArtifactWriter, BatchReader,
};
pub use knowledge::Knowledge;
pub use logprobs::LogprobRow;
pub use metrics::{
    ChoiceAccuracyRow, DecayRow, DrawRow, EffectivityRow, LinearProbeRow, RetentionRow,
    TrajectoryRow,
};
pub use probes::{Probe, ProbeKind};
pub use probing::{read_hidden, Answer, ChoiceOption, HiddenState, HiddenWriter, OptionScore};
pub use shards::{ShardFile, ShardManifest, ShardRow};
pub use train_log::TrainLogRow;

use arrow_array::RecordBatch;
use arrow_schema::Schema;

/// A subject–relation–object fact, as stated by a knowledge text or needed by a probe.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Triple {
    pub subject: String,
    pub relation: String,
    pub object: String,
}

/// A row type stored as one Parquet artifact.
pub trait Artifact: Sized {
    /// File stem of the schema under `schemas/` and the name used in messages.
    const NAME: &'static str;

    /// The Arrow schema written, and the one a reader requires (extra columns are ignored).
    fn schema() -> Schema;

    fn to_batch(rows: &[Self]) -> RecordBatch;

    /// `origin` names the file in error messages.
    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>>;
}

/// Every artifact defined in this crate, by name, for the schema-drift test and for tools that
/// list the contract.
pub fn artifact_schemas() -> Vec<(&'static str, Schema)> {
    vec![
        (EffectivityRow::NAME, EffectivityRow::schema()),
        (RetentionRow::NAME, RetentionRow::schema()),
        (DecayRow::NAME, DecayRow::schema()),
        (DrawRow::NAME, DrawRow::schema()),
        (LinearProbeRow::NAME, LinearProbeRow::schema()),
        (ChoiceAccuracyRow::NAME, ChoiceAccuracyRow::schema()),
        (TrajectoryRow::NAME, TrajectoryRow::schema()),
        (Knowledge::NAME, Knowledge::schema()),
        (Probe::NAME, Probe::schema()),
        (CorpusDocument::NAME, CorpusDocument::schema()),
        (ShardRow::NAME, ShardRow::schema()),
        (TrainLogRow::NAME, TrainLogRow::schema()),
        (LogprobRow::NAME, LogprobRow::schema()),
        (Injection::NAME, Injection::schema()),
        (Person::NAME, Person::schema()),
        (BioEntry::NAME, BioEntry::schema()),
        (QaPair::NAME, QaPair::schema()),
        (Answer::NAME, Answer::schema()),
        (HiddenState::NAME, HiddenState::schema(None)),
        (ChoiceOption::NAME, ChoiceOption::schema()),
        (OptionScore::NAME, OptionScore::schema()),
        (AugmentedRow::NAME, AugmentedRow::schema()),
    ]
}
