use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

use crate::columns::{triple_lists, triple_type, uint32, utf8, Columns};
use crate::schema_text::list_of;
use crate::{Artifact, Result, Triple};

/// The three probe depths of Chang et al. 2024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// A sentence of the paragraph cut before its final entity.
    Memorization,
    /// The same fact in another wording, same target.
    Semantic,
    /// Needs two or more facts of the paragraph combined.
    Composition,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Memorization,
        ProbeKind::Semantic,
        ProbeKind::Composition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Memorization => "memorization",
            ProbeKind::Semantic => "semantic",
            ProbeKind::Composition => "composition",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// One cloze probe: the model is scored on `target` after `prompt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub id: u32,
    pub knowledge_id: u32,
    pub kind: ProbeKind,
    pub prompt: String,
    pub target: String,
    pub facts: Vec<Triple>,
}

impl Artifact for Probe {
    const NAME: &'static str = "probes";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::UInt32, false),
            Field::new("knowledge_id", DataType::UInt32, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("prompt", DataType::Utf8, false),
            Field::new("target", DataType::Utf8, false),
            Field::new("facts", list_of(triple_type()), false),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.id)),
                uint32(rows.iter().map(|r| r.knowledge_id)),
                utf8(rows.iter().map(|r| r.kind.as_str())),
                utf8(rows.iter().map(|r| r.prompt.as_str())),
                utf8(rows.iter().map(|r| r.target.as_str())),
                triple_lists(rows.iter().map(|r| r.facts.as_slice())),
            ],
        )
        .expect("probe columns match the probes schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let kinds = columns.probe_kinds("kind")?;
        let ids = columns.uint32s("id")?;
        let knowledge_ids = columns.uint32s("knowledge_id")?;
        let prompts = columns.strings("prompt")?;
        let targets = columns.strings("target")?;
        let facts = columns.triple_lists("facts")?;
        Ok(ids
            .into_iter()
            .zip(knowledge_ids)
            .zip(kinds)
            .zip(prompts)
            .zip(targets)
            .zip(facts)
            .map(
                |(((((id, knowledge_id), kind), prompt), target), facts)| Probe {
                    id,
                    knowledge_id,
                    kind,
                    prompt,
                    target,
                    facts,
                },
            )
            .collect())
    }
}
