use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

use crate::columns::{utf8, Columns};
use crate::{Artifact, Result};

/// One document of a pretraining corpus. A user's own corpus is any Parquet file with a `text`
/// column; other columns are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusDocument {
    pub text: String,
}

impl Artifact for CorpusDocument {
    const NAME: &'static str = "corpus";

    fn schema() -> Schema {
        Schema::new(vec![Field::new("text", DataType::Utf8, false)])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![utf8(rows.iter().map(|r| r.text.as_str()))],
        )
        .expect("corpus column matches the corpus schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        Ok(Columns::new(batch, origin)
            .strings("text")?
            .into_iter()
            .map(|text| CorpusDocument { text })
            .collect())
    }
}
