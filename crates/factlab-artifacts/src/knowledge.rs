use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

use crate::columns::{optional_utf8, triple_lists, triple_type, uint32, utf8, utf8_lists, Columns};
use crate::schema_text::list_of;
use crate::{Artifact, Result, Triple};

/// One knowledge item: a paragraph to inject, its paraphrases and the facts it states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knowledge {
    pub id: u32,
    pub dataset: String,
    pub entity: Option<String>,
    pub entity_type: Option<String>,
    pub text: String,
    pub paraphrases: Vec<String>,
    pub facts: Vec<Triple>,
}

impl Artifact for Knowledge {
    const NAME: &'static str = "knowledge";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::UInt32, false),
            Field::new("dataset", DataType::Utf8, false),
            Field::new("entity", DataType::Utf8, true),
            Field::new("entity_type", DataType::Utf8, true),
            Field::new("text", DataType::Utf8, false),
            Field::new("paraphrases", list_of(DataType::Utf8), false),
            Field::new("facts", list_of(triple_type()), false),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.id)),
                utf8(rows.iter().map(|r| r.dataset.as_str())),
                optional_utf8(rows.iter().map(|r| r.entity.as_deref())),
                optional_utf8(rows.iter().map(|r| r.entity_type.as_deref())),
                utf8(rows.iter().map(|r| r.text.as_str())),
                utf8_lists(rows.iter().map(|r| r.paraphrases.as_slice())),
                triple_lists(rows.iter().map(|r| r.facts.as_slice())),
            ],
        )
        .expect("knowledge columns match the knowledge schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let ids = columns.uint32s("id")?;
        let datasets = columns.strings("dataset")?;
        let entities = columns.optional_strings("entity")?;
        let entity_types = columns.optional_strings("entity_type")?;
        let texts = columns.strings("text")?;
        let paraphrases = columns.string_lists("paraphrases")?;
        let facts = columns.triple_lists("facts")?;
        Ok(ids
            .into_iter()
            .zip(datasets)
            .zip(entities)
            .zip(entity_types)
            .zip(texts)
            .zip(paraphrases)
            .zip(facts)
            .map(
                |((((((id, dataset), entity), entity_type), text), paraphrases), facts)| {
                    Knowledge {
                        id,
                        dataset,
                        entity,
                        entity_type,
                        text,
                        paraphrases,
                        facts,
                    }
                },
            )
            .collect())
    }
}
