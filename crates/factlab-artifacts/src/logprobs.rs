use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};

use crate::columns::{uint32, utf8, Columns};
use crate::train_log::{float64, float64s};
use crate::{Artifact, ArtifactError, ProbeKind, Result};

/// One probe scored at one step of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct LogprobRow {
    pub run_id: String,
    pub step: u32,
    pub probe_id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub target_logprob: f64,
    pub first_token_logprob: f64,
    pub target_tokens: u32,
}

impl Artifact for LogprobRow {
    const NAME: &'static str = "logprobs";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("run_id", DataType::Utf8, false),
            Field::new("step", DataType::UInt32, false),
            Field::new("probe_id", DataType::UInt32, false),
            Field::new("knowledge_id", DataType::UInt32, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("target_logprob", DataType::Float64, false),
            Field::new("first_token_logprob", DataType::Float64, false),
            Field::new("target_tokens", DataType::UInt32, false),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                utf8(rows.iter().map(|r| r.run_id.as_str())),
                uint32(rows.iter().map(|r| r.step)),
                uint32(rows.iter().map(|r| r.probe_id)),
                uint32(rows.iter().map(|r| r.knowledge_id)),
                utf8(rows.iter().map(|r| r.kind.as_str())),
                float64(rows.iter().map(|r| r.target_logprob)),
                float64(rows.iter().map(|r| r.first_token_logprob)),
                uint32(rows.iter().map(|r| r.target_tokens)),
            ],
        )
        .expect("logprob columns match the logprobs schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let run_ids = columns.strings("run_id")?;
        let steps = columns.uint32s("step")?;
        let probe_ids = columns.uint32s("probe_id")?;
        let knowledge_ids = columns.uint32s("knowledge_id")?;
        let kinds = columns.strings("kind")?;
        let target = float64s(batch, origin, "target_logprob")?;
        let first = float64s(batch, origin, "first_token_logprob")?;
        let counts = columns.uint32s("target_tokens")?;
        run_ids
            .into_iter()
            .enumerate()
            .map(|(i, run_id)| {
                let kind = ProbeKind::parse(&kinds[i]).ok_or_else(|| {
                    ArtifactError::bad_value(
                        origin,
                        "kind",
                        i,
                        format!(
                            "is `{}`; expected memorization, semantic or composition",
                            kinds[i]
                        ),
                    )
                })?;
                Ok(LogprobRow {
                    run_id,
                    step: steps[i],
                    probe_id: probe_ids[i],
                    knowledge_id: knowledge_ids[i],
                    kind,
                    target_logprob: target[i],
                    first_token_logprob: first[i],
                    target_tokens: counts[i],
                })
            })
            .collect()
    }
}
