//! Artifacts of the `probe` stage: greedy answers to QA prompts, hidden states at chosen
//! positions, and the log-likelihoods of multiple-choice options.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use crate::columns::{uint32, utf8, Columns};
use crate::flat::flat_artifact;
use crate::io::{read_converted, writer_properties, Sink};
use crate::schema_text::ANY_LENGTH;
use crate::{display_path, ArtifactError, Result};

flat_artifact! {
    /// One QA prompt answered by greedy decoding and scored by exact match.
    #[derive(Eq)]
    Answer = "answers" {
        person_id: u32,
        attribute: String,
        split: String,
        question: String,
        answer: String,
        /// The completion up to the first newline or end-of-text, trimmed.
        generated: String,
        /// 1 when `generated` equals `answer`, else 0.
        exact_match: u32,
        /// 1 when the first generated token is the first token of `" " + answer`, else 0.
        first_token_match: u32,
    }
}

flat_artifact! {
    /// One option of a multiple-choice question: a completion to score after a prompt.
    #[derive(Eq)]
    ChoiceOption = "options" {
        question_id: u32,
        option_id: u32,
        prompt: String,
        /// Scored as written: a leading space, if the option needs one, is part of it.
        completion: String,
        /// 1 for a right option, else 0.
        correct: u32,
        /// The test split the question belongs to (e.g. `reversals`, `category-holdouts`).
        split: String,
        /// A finer group of questions within the split, the unit of standard-error bars.
        subset: String,
    }
}

flat_artifact! {
    /// The log-likelihood of one option's completion given its prompt.
    OptionScore = "option-scores" {
        question_id: u32,
        option_id: u32,
        logprob_sum: f64,
        logprob_mean: f64,
        tokens: u32,
        /// 1 for the option of its question with the highest `logprob_sum`, else 0.
        chosen: u32,
        correct: u32,
        split: String,
        subset: String,
    }
}

/// The residual stream of one layer at one token of one input.
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenState {
    pub person_id: u32,
    /// The biography entry, or 0 for inputs that are not entries.
    pub entry: u32,
    /// What the position is: the attribute whose value follows it, `index:K` or `name_end`.
    pub position: String,
    /// Index of the token in the model's input, the leading end-of-text token being 0.
    pub token_index: u32,
    /// 0 after the embedding, L after block L.
    pub layer: u32,
    pub vector: Vec<f32>,
}

/// Hidden states are not an [`crate::Artifact`]: the length of `vector` is the model's hidden
/// size, so a file's schema is known only when its first row is, while the artifact writer and
/// reader fix the schema per row type.
impl HiddenState {
    pub const NAME: &'static str = "hidden";

    /// The schema of a file whose vectors have `width` floats; `None` gives the documented form,
    /// `fixed_size_list<float32; *>`.
    pub fn schema(width: Option<usize>) -> Schema {
        let length = width.map_or(ANY_LENGTH, |w| {
            i32::try_from(w).expect("a hidden size fits an Arrow list length")
        });
        Schema::new(vec![
            Field::new("person_id", DataType::UInt32, false),
            Field::new("entry", DataType::UInt32, false),
            Field::new("position", DataType::Utf8, false),
            Field::new("token_index", DataType::UInt32, false),
            Field::new("layer", DataType::UInt32, false),
            Field::new("vector", vector_type(length), false),
        ])
    }

    fn to_batch(rows: &[Self], schema: SchemaRef, width: usize) -> RecordBatch {
        let values = Float32Array::from_iter_values(rows.iter().flat_map(|r| {
            assert_eq!(
                r.vector.len(),
                width,
                "every hidden state of a file has one length"
            );
            r.vector.iter().copied()
        }));
        let vectors = FixedSizeListArray::new(
            Arc::new(Field::new_list_field(DataType::Float32, false)),
            width as i32,
            Arc::new(values),
            None,
        );
        let columns: Vec<ArrayRef> = vec![
            uint32(rows.iter().map(|r| r.person_id)),
            uint32(rows.iter().map(|r| r.entry)),
            utf8(rows.iter().map(|r| r.position.as_str())),
            uint32(rows.iter().map(|r| r.token_index)),
            uint32(rows.iter().map(|r| r.layer)),
            Arc::new(vectors),
        ];
        RecordBatch::try_new(schema, columns).expect("columns match the hidden schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let person_ids = columns.uint32s("person_id")?;
        let entries = columns.uint32s("entry")?;
        let positions = columns.strings("position")?;
        let token_indices = columns.uint32s("token_index")?;
        let layers = columns.uint32s("layer")?;
        let vectors = batch
            .column_by_name("vector")
            .and_then(|c| c.as_any().downcast_ref::<FixedSizeListArray>())
            .expect("the schema check found a fixed_size_list column");
        let values = vectors
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .expect("the schema check found float32 items");
        let width = vectors.value_length() as usize;
        let start = |row: usize| vectors.value_offset_at(row);
        if let Some(row) = (0..vectors.len()).find(|&row| {
            vectors.is_null(row)
                || values
                    .nulls()
                    .is_some_and(|n| (start(row)..start(row) + width).any(|i| n.is_null(i)))
        }) {
            return Err(ArtifactError::bad_value(
                origin,
                "vector",
                row,
                "has a null; expected a hidden state of floats",
            ));
        }
        let values = values.values();
        Ok((0..batch.num_rows())
            .map(|row| HiddenState {
                person_id: person_ids[row],
                entry: entries[row],
                position: positions[row].clone(),
                token_index: token_indices[row],
                layer: layers[row],
                vector: values[start(row)..][..width].to_vec(),
            })
            .collect())
    }
}

fn vector_type(length: i32) -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new_list_field(DataType::Float32, false)),
        length,
    )
}

/// Writes hidden states of one length as a zstd Parquet file that appears only at `finish`
/// (`-`: standard output), streamed through a temporary file beside it like every artifact.
pub struct HiddenWriter {
    writer: ArrowWriter<Sink>,
    schema: SchemaRef,
    width: usize,
    path: std::path::PathBuf,
}

impl HiddenWriter {
    pub fn create(path: &Path, width: usize) -> Result<Self> {
        let schema = Arc::new(HiddenState::schema(Some(width)));
        let sink = Sink::create(path)?;
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties()))
            .map_err(|source| ArtifactError::Parquet {
                path: display_path(path),
                source,
            })?;
        Ok(HiddenWriter {
            writer,
            schema,
            width,
            path: path.to_path_buf(),
        })
    }

    /// Panics if a vector's length is not the writer's width.
    pub fn write(&mut self, rows: &[HiddenState]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let batch = HiddenState::to_batch(rows, self.schema.clone(), self.width);
        self.writer
            .write(&batch)
            .map_err(|source| ArtifactError::Parquet {
                path: display_path(&self.path),
                source,
            })
    }

    /// Seals the file, recording in its footer the ids of the sets it was computed from as
    /// `(artifact, set id)` pairs (see [`crate::outputs`]).
    pub fn finish(mut self, made_from: &[(&str, &str)]) -> Result<()> {
        if let Some(entry) = crate::outputs::made_from_metadata(made_from) {
            self.writer.append_key_value_metadata(entry);
        }
        let sink = self
            .writer
            .into_inner()
            .map_err(|source| ArtifactError::Parquet {
                path: display_path(&self.path),
                source,
            })?;
        sink.commit(&self.path)
    }
}

/// Reads every hidden state of a file (`-` for stdin), whatever its vectors' length.
pub fn read_hidden(path: &Path) -> Result<Vec<HiddenState>> {
    read_converted(path, &HiddenState::schema(None), HiddenState::from_batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(person_id: u32, layer: u32, vector: Vec<f32>) -> HiddenState {
        HiddenState {
            person_id,
            entry: 1,
            position: "birth_city".into(),
            token_index: 7,
            layer,
            vector,
        }
    }

    #[test]
    fn hidden_states_round_trip_with_the_file_width() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hidden.parquet");
        let rows = vec![
            state(3, 0, vec![0.5, -1.0, 2.25]),
            state(4, 2, vec![f32::MIN_POSITIVE, 0.0, 1e9]),
        ];
        let mut writer = HiddenWriter::create(&path, 3).unwrap();
        writer.write(&rows[..1]).unwrap();
        writer.write(&rows[1..]).unwrap();
        assert!(!path.exists(), "nothing is visible before finish");
        writer.finish(&[]).unwrap();
        assert_eq!(read_hidden(&path).unwrap(), rows);
    }

    #[test]
    fn a_file_without_a_float_vector_column_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-hidden.parquet");
        // Every column of a hidden file, but the vector is text.
        let mut fields: Vec<Field> = HiddenState::schema(Some(1))
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[5] = Field::new("vector", DataType::Utf8, false);
        let columns: Vec<ArrayRef> = vec![
            uint32([1].into_iter()),
            uint32([0].into_iter()),
            utf8(["name_end"].into_iter()),
            uint32([2].into_iter()),
            uint32([1].into_iter()),
            utf8(["0.5"].into_iter()),
        ];
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let message = read_hidden(&path).unwrap_err().to_string();
        assert!(
            message.contains("not-hidden.parquet")
                && message.contains("`vector`")
                && message.contains("fixed_size_list<float32; *>"),
            "{message}"
        );
        // A hidden file of any width is accepted.
        let wide = dir.path().join("wide.parquet");
        let mut writer = HiddenWriter::create(&wide, 5).unwrap();
        writer.write(&[state(1, 1, vec![1.0; 5])]).unwrap();
        writer.finish(&[]).unwrap();
        assert_eq!(read_hidden(&wide).unwrap()[0].vector.len(), 5);
    }

    #[test]
    fn the_documented_schema_has_a_free_length() {
        assert_eq!(
            crate::schema_text::format_type(HiddenState::schema(None).field(5).data_type()),
            "fixed_size_list<float32; *>"
        );
    }
}
