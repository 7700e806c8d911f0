//! Streams a shard folder's rows batch by batch, in step order, from any starting step.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use factlab_artifacts::{open_batches, Artifact, BatchReader, ShardManifest, ShardRow};

pub struct ShardStream {
    manifest: ShardManifest,
    files: VecDeque<PathBuf>,
    reader: Option<BatchReader>,
    pending: VecDeque<ShardRow>,
}

impl ShardStream {
    /// Opens the shards of `manifest_path` positioned at step `from`.
    pub fn open(manifest_path: &Path, from: u32) -> Result<Self> {
        let manifest = ShardManifest::load(manifest_path)?;
        let files = manifest
            .shard_paths(manifest_path)
            .into_iter()
            .zip(&manifest.shards)
            .filter(|(_, shard)| shard.last_step >= from)
            .map(|(path, _)| path)
            .collect();
        Ok(ShardStream {
            manifest,
            files,
            reader: None,
            pending: VecDeque::new(),
        })
    }

    pub fn manifest(&self) -> &ShardManifest {
        &self.manifest
    }

    fn next_row(&mut self) -> Result<Option<ShardRow>> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Ok(Some(row));
            }
            if let Some(reader) = &mut self.reader {
                if let Some(batch) = reader.next() {
                    let origin = reader.origin().to_string();
                    self.pending.extend(ShardRow::from_batch(&batch?, &origin)?);
                    continue;
                }
            }
            let Some(path) = self.files.pop_front() else {
                return Ok(None);
            };
            self.reader = Some(open_batches(&path, &ShardRow::schema())?);
        }
    }

    /// The `batch_size` rows of `step`, checked for order and length. Rows of earlier steps are
    /// skipped (that is how a resumed run finds its place).
    pub fn batch(&mut self, step: u32) -> Result<Vec<ShardRow>> {
        let (batch_size, seq_len) = (self.manifest.batch_size, self.manifest.seq_len as usize);
        let mut rows = Vec::with_capacity(batch_size as usize);
        while rows.len() < batch_size as usize {
            let row = self
                .next_row()?
                .with_context(|| format!("the shards end before step {step}"))?;
            if row.step < step {
                continue;
            }
            if row.step != step || row.row != rows.len() as u32 {
                bail!(
                    "shards out of order: expected step {step} row {}, found step {} row {}",
                    rows.len(),
                    row.step,
                    row.row
                );
            }
            if row.tokens.len() != seq_len {
                bail!(
                    "step {step} row {} has {} tokens; the manifest says seq_len {seq_len}",
                    row.row,
                    row.tokens.len()
                );
            }
            rows.push(row);
        }
        Ok(rows)
    }
}
