//! Synthetic biographies (Allen-Zhu & Li, Physics of LMs 3.1): the people, their biography
//! entries with the byte span of every attribute value, and the question–answer pairs.

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

use crate::columns::{uint32, uint32_lists, utf8, Columns};
use crate::flat::flat_artifact;
use crate::schema_text::list_of;
use crate::{Artifact, ArtifactError, Result};

/// The six attributes of a person, in the order of the paper's single biographies; span lists
/// and probes use this order.
pub const ATTRIBUTES: [&str; 6] = [
    "birth_date",
    "birth_city",
    "university",
    "major",
    "employer",
    "company_city",
];

flat_artifact! {
    /// One synthetic person and the six attribute values every biography of them states.
    #[derive(Eq)]
    Person = "people" {
        person_id: u32,
        /// "First Middle Last", unique within the file.
        name: String,
        first_name: String,
        middle_name: String,
        last_name: String,
        birth_date: String,
        birth_city: String,
        university: String,
        major: String,
        employer: String,
        /// Fixed by the employer: its headquarters.
        company_city: String,
        /// `he`, `she` or `they`: the pronoun of sentences after the first.
        pronoun: String,
        /// `train` (P_train: QA finetuning data) or `test` (P_test: QA held out).
        split: String,
        /// `all`, or `celebrity` / `minority` in the celebrity experiment.
        group: String,
    }
}

impl Person {
    /// The attribute values in [`ATTRIBUTES`] order.
    pub fn values(&self) -> [&str; 6] {
        [
            &self.birth_date,
            &self.birth_city,
            &self.university,
            &self.major,
            &self.employer,
            &self.company_city,
        ]
    }
}

flat_artifact! {
    /// One question about one person's attribute, and its answer.
    #[derive(Eq)]
    QaPair = "qa" {
        person_id: u32,
        /// One of [`ATTRIBUTES`].
        attribute: String,
        question: String,
        answer: String,
        /// The person's split: `train` pairs are finetuning data, `test` pairs are evaluated.
        split: String,
    }
}

impl QaPair {
    /// What the question is followed by in training and at test time.
    pub const ANSWER_CUE: &'static str = " Answer:";

    /// The prompt a model completes: the question and the answer cue.
    pub fn prompt(&self) -> String {
        format!("{}{}", self.question, Self::ANSWER_CUE)
    }

    /// The completion it is trained on and scored against (a space, then the answer).
    pub fn completion(&self) -> String {
        format!(" {}", self.answer)
    }
}

/// One biography entry: a text about one person stating each of the six attributes once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BioEntry {
    pub person_id: u32,
    /// The augmentation variant the entry belongs to, e.g. `single`, `multi5+permute`.
    pub variant: String,
    /// 0 .. entries per person − 1.
    pub entry: u32,
    pub text: String,
    /// Byte offset in `text` where each attribute value starts, in [`ATTRIBUTES`] order.
    pub value_starts: Vec<u32>,
    /// Byte offset just past each attribute value, in [`ATTRIBUTES`] order.
    pub value_ends: Vec<u32>,
}

impl Artifact for BioEntry {
    const NAME: &'static str = "bios";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("person_id", DataType::UInt32, false),
            Field::new("variant", DataType::Utf8, false),
            Field::new("entry", DataType::UInt32, false),
            Field::new("text", DataType::Utf8, false),
            Field::new("value_starts", list_of(DataType::UInt32), false),
            Field::new("value_ends", list_of(DataType::UInt32), false),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.person_id)),
                utf8(rows.iter().map(|r| r.variant.as_str())),
                uint32(rows.iter().map(|r| r.entry)),
                utf8(rows.iter().map(|r| r.text.as_str())),
                uint32_lists(rows.iter().map(|r| r.value_starts.as_slice())),
                uint32_lists(rows.iter().map(|r| r.value_ends.as_slice())),
            ],
        )
        .expect("bio columns match the bios schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let person_ids = columns.uint32s("person_id")?;
        let variants = columns.strings("variant")?;
        let entries = columns.uint32s("entry")?;
        let texts = columns.strings("text")?;
        let starts = columns.uint32_lists("value_starts")?;
        let ends = columns.uint32_lists("value_ends")?;
        let rows: Vec<BioEntry> = person_ids
            .into_iter()
            .zip(variants)
            .zip(entries)
            .zip(texts)
            .zip(starts)
            .zip(ends)
            .map(
                |(((((person_id, variant), entry), text), value_starts), value_ends)| BioEntry {
                    person_id,
                    variant,
                    entry,
                    text,
                    value_starts,
                    value_ends,
                },
            )
            .collect();
        for (index, row) in rows.iter().enumerate() {
            row.check_spans()
                .map_err(|why| ArtifactError::bad_value(origin, "value_starts", index, why))?;
        }
        Ok(rows)
    }
}

impl BioEntry {
    /// The value of attribute `index` ([`ATTRIBUTES`] order) as the text states it.
    pub fn value(&self, index: usize) -> &str {
        &self.text[self.value_starts[index] as usize..self.value_ends[index] as usize]
    }

    fn check_spans(&self) -> std::result::Result<(), String> {
        if self.value_starts.len() != ATTRIBUTES.len() || self.value_ends.len() != ATTRIBUTES.len()
        {
            return Err(format!(
                "has {} starts and {} ends; expected one per attribute ({})",
                self.value_starts.len(),
                self.value_ends.len(),
                ATTRIBUTES.len()
            ));
        }
        for (attribute, (&start, &end)) in ATTRIBUTES
            .iter()
            .zip(self.value_starts.iter().zip(&self.value_ends))
        {
            let (start, end) = (start as usize, end as usize);
            if start >= end
                || end > self.text.len()
                || !self.text.is_char_boundary(start)
                || !self.text.is_char_boundary(end)
            {
                return Err(format!(
                    "gives {attribute} the span {start}..{end}; expected a non-empty span on \
                     character boundaries of the {}-byte text",
                    self.text.len()
                ));
            }
        }
        Ok(())
    }
}
