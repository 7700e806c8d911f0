//! Shard files: `shard-NNNNN.parquet` of whole steps, in step order, under the shard folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use factlab_artifacts::{ArtifactWriter, ShardFile, ShardRow};

pub const MANIFEST: &str = "manifest.json";

struct OpenShard {
    writer: ArtifactWriter<ShardRow>,
    entry: ShardFile,
}

/// Writes steps into shard files of `steps_per_shard` steps each.
pub struct ShardSink {
    folder: PathBuf,
    steps_per_shard: u32,
    open: Option<OpenShard>,
    done: Vec<ShardFile>,
}

impl ShardSink {
    /// Removes any earlier manifest first, so that a run interrupted here leaves a folder no
    /// trainer mistakes for complete shards.
    pub fn create(folder: &Path, steps_per_shard: u32) -> Result<Self> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("{}: cannot create the shard folder", folder.display()))?;
        remove_if_present(&folder.join(MANIFEST))?;
        Ok(ShardSink {
            folder: folder.to_path_buf(),
            steps_per_shard,
            open: None,
            done: Vec::new(),
        })
    }

    /// Appends one step's rows; steps must come in increasing order.
    pub fn write_step(&mut self, step: u32, rows: &[ShardRow]) -> Result<()> {
        let full = self
            .open
            .as_ref()
            .is_some_and(|s| s.entry.last_step - s.entry.first_step + 1 >= self.steps_per_shard);
        if full {
            self.close()?;
        }
        let shard = match &mut self.open {
            Some(shard) => shard,
            None => {
                let file = format!("shard-{:05}.parquet", self.done.len());
                let writer = ArtifactWriter::create(&self.folder.join(&file))?;
                self.open.insert(OpenShard {
                    writer,
                    entry: ShardFile {
                        file,
                        first_step: step,
                        last_step: step,
                        rows: 0,
                    },
                })
            }
        };
        shard.writer.write(rows)?;
        shard.entry.last_step = step;
        shard.entry.rows += rows.len() as u64;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(shard) = self.open.take() {
            shard.writer.finish()?;
            self.done.push(shard.entry);
        }
        Ok(())
    }

    /// Closes the last file and deletes shard files an earlier, longer run left behind.
    pub fn finish(mut self) -> Result<Vec<ShardFile>> {
        self.close()?;
        let listing = std::fs::read_dir(&self.folder)
            .with_context(|| format!("{}: cannot list the shard folder", self.folder.display()))?;
        for entry in listing {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let stale = name.starts_with("shard-")
                && name.ends_with(".parquet")
                && !self.done.iter().any(|s| s.file == name);
            if stale {
                remove_if_present(&self.folder.join(&name))?;
            }
        }
        Ok(self.done)
    }
}

pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("{}: cannot remove the old file", path.display()))
        }
        _ => Ok(()),
    }
}
