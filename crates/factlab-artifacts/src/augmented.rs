//! Augmented training documents (Lampinen et al. 2025 §3): the input documents passed through
//! and the text an augmenter derived from them, with the provenance of every generated row.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::columns::{optional_utf8, uint32, utf8, Columns};
use crate::{Artifact, Result};

/// One training document: an input passed through (`strategy` = `original`) or an augmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct AugmentedRow {
    /// Row index in the file, from 0.
    pub id: u32,
    /// The knowledge id (or person id, for rewritten biographies) the row derives from.
    pub source_id: u32,
    pub dataset: String,
    pub text: String,
    /// `original`, `local`, `global`, `paraphrase` or `rewrite-bio`.
    pub strategy: String,
    /// `none` (originals), `rules` or `served`.
    pub backend: String,
    /// Provenance of served rows; `None` for the other backends.
    pub model: Option<String>,
    pub prompt_hash: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub sample_seed: Option<u64>,
}

impl Artifact for AugmentedRow {
    const NAME: &'static str = "augmented";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::UInt32, false),
            Field::new("source_id", DataType::UInt32, false),
            Field::new("dataset", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("strategy", DataType::Utf8, false),
            Field::new("backend", DataType::Utf8, false),
            Field::new("model", DataType::Utf8, true),
            Field::new("prompt_hash", DataType::Utf8, true),
            Field::new("temperature", DataType::Float64, true),
            Field::new("top_p", DataType::Float64, true),
            Field::new("max_tokens", DataType::UInt32, true),
            Field::new("sample_seed", DataType::UInt64, true),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            uint32(rows.iter().map(|r| r.id)),
            uint32(rows.iter().map(|r| r.source_id)),
            utf8(rows.iter().map(|r| r.dataset.as_str())),
            utf8(rows.iter().map(|r| r.text.as_str())),
            utf8(rows.iter().map(|r| r.strategy.as_str())),
            utf8(rows.iter().map(|r| r.backend.as_str())),
            optional_utf8(rows.iter().map(|r| r.model.as_deref())),
            optional_utf8(rows.iter().map(|r| r.prompt_hash.as_deref())),
            Arc::new(rows.iter().map(|r| r.temperature).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| r.top_p).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|r| r.max_tokens).collect::<UInt32Array>()),
            Arc::new(rows.iter().map(|r| r.sample_seed).collect::<UInt64Array>()),
        ];
        RecordBatch::try_new(Arc::new(Self::schema()), columns)
            .expect("augmented columns match the augmented schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let ids = columns.uint32s("id")?;
        let source_ids = columns.uint32s("source_id")?;
        let datasets = columns.strings("dataset")?;
        let texts = columns.strings("text")?;
        let strategies = columns.strings("strategy")?;
        let backends = columns.strings("backend")?;
        let models = columns.optional_strings("model")?;
        let hashes = columns.optional_strings("prompt_hash")?;
        let temperatures = columns.optional_float64s("temperature")?;
        let top_ps = columns.optional_float64s("top_p")?;
        let max_tokens = columns.optional_uint32s("max_tokens")?;
        let seeds = columns.optional_uint64s("sample_seed")?;
        Ok((0..batch.num_rows())
            .map(|i| AugmentedRow {
                id: ids[i],
                source_id: source_ids[i],
                dataset: datasets[i].clone(),
                text: texts[i].clone(),
                strategy: strategies[i].clone(),
                backend: backends[i].clone(),
                model: models[i].clone(),
                prompt_hash: hashes[i].clone(),
                temperature: temperatures[i],
                top_p: top_ps[i],
                max_tokens: max_tokens[i],
                sample_seed: seeds[i],
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_rows, write_rows, CorpusDocument};

    fn row(id: u32, served: bool) -> AugmentedRow {
        AugmentedRow {
            id,
            source_id: 7,
            dataset: "reversals".into(),
            text: format!("glon are taller than femp ({id})."),
            strategy: if served { "local" } else { "original" }.into(),
            backend: if served { "served" } else { "none" }.into(),
            model: served.then(|| "smol".into()),
            prompt_hash: served.then(|| "ab".repeat(32)),
            temperature: served.then_some(0.7),
            top_p: served.then_some(0.95),
            max_tokens: served.then_some(256),
            sample_seed: served.then_some(u64::MAX),
        }
    }

    #[test]
    fn nulls_and_values_round_trip_and_the_file_reads_as_a_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("augmented.parquet");
        let rows = vec![row(0, false), row(1, true)];
        write_rows(&path, &rows).unwrap();
        assert_eq!(read_rows::<AugmentedRow>(&path).unwrap(), rows);
        let corpus = read_rows::<CorpusDocument>(&path).unwrap();
        assert_eq!(corpus[1].text, rows[1].text);
    }
}
