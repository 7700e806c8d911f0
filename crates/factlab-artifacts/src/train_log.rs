use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::columns::{uint32, Columns};
use crate::{Artifact, ArtifactError, Result};

/// One optimizer step of a `train` run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainLogRow {
    pub step: u32,
    pub loss: f64,
    pub lr: f64,
    pub grad_norm: f64,
    /// Tokens trained on up to and including this step, in this run's step numbering.
    pub tokens: u64,
    /// Wall-clock throughput of this step; the only column that differs between identical runs.
    pub tokens_per_s: f64,
}

impl Artifact for TrainLogRow {
    const NAME: &'static str = "train-log";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("step", DataType::UInt32, false),
            Field::new("loss", DataType::Float64, false),
            Field::new("lr", DataType::Float64, false),
            Field::new("grad_norm", DataType::Float64, false),
            Field::new("tokens", DataType::UInt64, false),
            Field::new("tokens_per_s", DataType::Float64, false),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.step)),
                float64(rows.iter().map(|r| r.loss)),
                float64(rows.iter().map(|r| r.lr)),
                float64(rows.iter().map(|r| r.grad_norm)),
                Arc::new(rows.iter().map(|r| r.tokens).collect::<UInt64Array>()),
                float64(rows.iter().map(|r| r.tokens_per_s)),
            ],
        )
        .expect("train-log columns match the train-log schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let steps = Columns::new(batch, origin).uint32s("step")?;
        let loss = float64s(batch, origin, "loss")?;
        let lr = float64s(batch, origin, "lr")?;
        let grad_norm = float64s(batch, origin, "grad_norm")?;
        let tokens_per_s = float64s(batch, origin, "tokens_per_s")?;
        let tokens = typed::<UInt64Array>(batch, origin, "tokens", "uint64")?;
        Ok((0..batch.num_rows())
            .map(|i| TrainLogRow {
                step: steps[i],
                loss: loss[i],
                lr: lr[i],
                grad_norm: grad_norm[i],
                tokens: tokens.value(i),
                tokens_per_s: tokens_per_s[i],
            })
            .collect())
    }
}

pub(crate) fn float64(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

/// A non-null column of a schema-checked batch, downcast.
fn typed<'a, T: Array + 'static>(
    batch: &'a RecordBatch,
    origin: &str,
    name: &str,
    type_name: &str,
) -> Result<&'a T> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ArtifactError::MissingColumn {
            path: origin.to_string(),
            column: name.to_string(),
            expected: type_name.to_string(),
            found: crate::columns::column_names(batch),
        })?;
    if let Some(row) = column
        .nulls()
        .and_then(|n| (0..n.len()).find(|&i| n.is_null(i)))
    {
        return Err(ArtifactError::bad_value(
            origin,
            name,
            row,
            "is null; expected a value",
        ));
    }
    column
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| ArtifactError::WrongType {
            path: origin.to_string(),
            column: name.to_string(),
            expected: type_name.to_string(),
            found: crate::schema_text::format_type(column.data_type()),
        })
}

pub(crate) fn float64s(batch: &RecordBatch, origin: &str, name: &str) -> Result<Vec<f64>> {
    Ok(typed::<Float64Array>(batch, origin, name, "float64")?
        .values()
        .to_vec())
}
