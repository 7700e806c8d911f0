use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::columns::{bool_lists_or_null, uint32, uint32_lists, utf8, Columns};
use crate::io::write_atomic;
use crate::schema_text::list_of;
use crate::{Artifact, ArtifactError, Result};

/// One row of a training batch: `seq_len` token ids, in step order across shard files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRow {
    pub step: u32,
    pub row: u32,
    pub tokens: Vec<u32>,
    /// `corpus` or `injected`.
    pub source: String,
    /// Knowledge ids of the paragraphs prepended to this row, in order (empty for corpus rows).
    pub knowledge_ids: Vec<u32>,
    /// Which text of each knowledge item: 0 = original, k = paraphrase k (parallel to `knowledge_ids`).
    pub variants: Vec<u32>,
    /// Empty: every token is a training target. Otherwise one flag per token: whether predicting
    /// that token counts in the loss (QA finetuning trains on answers only).
    pub loss_mask: Vec<bool>,
}

impl Artifact for ShardRow {
    const NAME: &'static str = "shards";

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("step", DataType::UInt32, false),
            Field::new("row", DataType::UInt32, false),
            Field::new("tokens", list_of(DataType::UInt32), false),
            Field::new("source", DataType::Utf8, false),
            Field::new("knowledge_ids", list_of(DataType::UInt32), false),
            Field::new("variants", list_of(DataType::UInt32), false),
            Field::new("loss_mask", list_of(DataType::Boolean), true),
        ])
    }

    fn to_batch(rows: &[Self]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Self::schema()),
            vec![
                uint32(rows.iter().map(|r| r.step)),
                uint32(rows.iter().map(|r| r.row)),
                uint32_lists(rows.iter().map(|r| r.tokens.as_slice())),
                utf8(rows.iter().map(|r| r.source.as_str())),
                uint32_lists(rows.iter().map(|r| r.knowledge_ids.as_slice())),
                uint32_lists(rows.iter().map(|r| r.variants.as_slice())),
                bool_lists_or_null(rows.iter().map(|r| r.loss_mask.as_slice())),
            ],
        )
        .expect("shard columns match the shards schema")
    }

    fn from_batch(batch: &RecordBatch, origin: &str) -> Result<Vec<Self>> {
        let columns = Columns::new(batch, origin);
        let steps = columns.uint32s("step")?;
        let rows = columns.uint32s("row")?;
        let tokens = columns.uint32_lists("tokens")?;
        let sources = columns.strings("source")?;
        let knowledge_ids = columns.uint32_lists("knowledge_ids")?;
        let variants = columns.uint32_lists("variants")?;
        let masks = columns.bool_lists_or_empty("loss_mask")?;
        for (index, (mask, tokens)) in masks.iter().zip(&tokens).enumerate() {
            if !mask.is_empty() && mask.len() != tokens.len() {
                return Err(ArtifactError::bad_value(
                    origin,
                    "loss_mask",
                    index,
                    format!(
                        "has {} flags for {} tokens; expected one per token, or null",
                        mask.len(),
                        tokens.len()
                    ),
                ));
            }
        }
        Ok(steps
            .into_iter()
            .zip(rows)
            .zip(tokens)
            .zip(sources)
            .zip(knowledge_ids)
            .zip(variants)
            .zip(masks)
            .map(
                |((((((step, row), tokens), source), knowledge_ids), variants), loss_mask)| {
                    ShardRow {
                        step,
                        row,
                        tokens,
                        source,
                        knowledge_ids,
                        variants,
                        loss_mask,
                    }
                },
            )
            .collect())
    }
}

/// `manifest.json` beside the shard files: what a trainer needs to stream them in step order.
/// Documented in `schemas/shard-manifest.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// Always `factlab-shards/1` for this layout.
    pub format: String,
    /// Path of the tokenizer the tokens come from, relative to the manifest's folder.
    pub tokenizer: String,
    pub seq_len: u32,
    pub batch_size: u32,
    /// The first step in the shards; steps run `start_step .. start_step + steps`.
    pub start_step: u32,
    pub steps: u32,
    pub eos_token_id: u32,
    pub shards: Vec<ShardFile>,
    /// Set id of the `injections.parquet` written with these shards (absent without
    /// injections), which `train` records in the logprobs it computes on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injections: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    /// File name relative to the manifest's folder.
    pub file: String,
    pub first_step: u32,
    pub last_step: u32,
    pub rows: u64,
}

impl ShardManifest {
    pub const FORMAT: &'static str = "factlab-shards/1";

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let manifest: ShardManifest =
            serde_json::from_str(&text).map_err(|e| ArtifactError::BadValue {
                path: path.display().to_string(),
                column: "manifest".into(),
                row: e.line(),
                message: e.to_string(),
            })?;
        if manifest.format != Self::FORMAT {
            return Err(ArtifactError::BadValue {
                path: path.display().to_string(),
                column: "format".into(),
                row: 0,
                message: format!("is `{}`; expected `{}`", manifest.format, Self::FORMAT),
            });
        }
        Ok(manifest)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(path, format!("{text}\n").as_bytes())
    }

    /// Absolute paths of the shard files, in step order.
    pub fn shard_paths(&self, manifest_path: &Path) -> Vec<PathBuf> {
        let folder = manifest_path.parent().unwrap_or(Path::new("."));
        self.shards.iter().map(|s| folder.join(&s.file)).collect()
    }
}
