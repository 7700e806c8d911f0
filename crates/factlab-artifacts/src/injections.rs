use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

use crate::columns::{uint32, utf8, Columns};
use crate::{Artifact, Result};

/// One exposure of one knowledge item: where in the continuation shards its text was prepended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    pub knowledge_id: u32,
    /// The schedule group's name, e.g. `paraphrase`, `duplicate`, `once`.
    pub scenario: String,
    /// 0 for the first exposure of this item, 1 for the second, ...
    pub exposure: u32,
    pub step: u32,
    pub row: u32,
    /// 0 = original text, k = paraphrase k.
    pub variant: u32,
    /// Position in the row's tokens where the text (then its end-of-text token) starts.
    pub offset: u32,
    /// Tokens of the text written into the row; under `text_tokens` when cut at the row's end.
    pub length: u32,
    /// Tokens of the whole text plus its end-of-text token.
    pub text_tokens: u32,
}

impl Artifact for Injection {
    const NAME: &'static str = "injections";

    fn schema() -> Schema {
        let column = |name| Field::new(name, DataType::UInt32, false);
        Schema::new(vec![
            column("knowledge_id"),
            Field::new("scenario", DataType::Utf8, false),
            column("exposure"),
            column("step"),
            column("row"),
            column("variant"),
            column("offset"),
            column("length"),
            column("text_tokens"),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.knowledge_id)),
                utf8(rows.iter().map(|r| r.scenario.as_str())),
                uint32(rows.iter().map(|r| r.exposure)),
                uint32(rows.iter().map(|r| r.step)),
                uint32(rows.iter().map(|r| r.row)),
                uint32(rows.iter().map(|r| r.variant)),
                uint32(rows.iter().map(|r| r.offset)),
                uint32(rows.iter().map(|r| r.length)),
                uint32(rows.iter().map(|r| r.text_tokens)),
            ],
        )
        .expect("injection columns match the injections schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let knowledge_ids = columns.uint32s("knowledge_id")?;
        let scenarios = columns.strings("scenario")?;
        let exposures = columns.uint32s("exposure")?;
        let steps = columns.uint32s("step")?;
        let rows = columns.uint32s("row")?;
        let variants = columns.uint32s("variant")?;
        let offsets = columns.uint32s("offset")?;
        let lengths = columns.uint32s("length")?;
        let text_tokens = columns.uint32s("text_tokens")?;
        Ok((0..knowledge_ids.len())
            .map(|i| Injection {
                knowledge_id: knowledge_ids[i],
                scenario: scenarios[i].clone(),
                exposure: exposures[i],
                step: steps[i],
                row: rows[i],
                variant: variants[i],
                offset: offsets[i],
                length: lengths[i],
                text_tokens: text_tokens[i],
            })
            .collect())
    }
}
