//! What a run is and where it stands: the configuration stored in every checkpoint, and the
//! counters of `state.json`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use factlab_model::{AdamWConfig, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::inputs::InputDigests;
use crate::lora::LoraRun;
use crate::steps::LrSchedule;

pub const TRAIN_LOG_FILE: &str = "train-log.parquet";
pub const LOGPROBS_FILE: &str = "logprobs.parquet";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";
/// Paths in the state are relative to the run folder (see [`TrainState::resolve_paths`]).
pub(crate) const STATE_FORMAT: &str = "factlab-train-state/2";
/// The first format: paths as given on the command line (relative to its working directory),
/// and the output folder recorded. Still resumed where its inputs can be found.
const STATE_FORMAT_1: &str = "factlab-train-state/1";

/// Everything that defines a run; stored in every checkpoint so `--resume` needs nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The shard folder's `manifest.json`; in `state.json`, relative to the run folder.
    pub shards: PathBuf,
    /// The run folder: where the run is, never stored (format 1 stored the folder it was
    /// started in, read only to find that run's inputs).
    #[serde(default, skip_serializing)]
    pub out: PathBuf,
    pub run_id: String,
    pub model: ModelConfig,
    pub seed: u64,
    pub optimizer: AdamWConfig,
    /// Global gradient-norm clip; 0 turns clipping off.
    pub grad_clip: f64,
    pub lr: LrSchedule,
    /// Rows per forward/backward pass; gradients of the batch's micro-batches are summed so the
    /// shards' batch is the optimizer batch.
    pub micro_batch: usize,
    /// The run stops when its step count reaches this.
    pub end_step: u32,
    pub save_every: Option<u32>,
    pub save_at: Vec<u32>,
    pub probes: Option<PathBuf>,
    pub eval_at: Vec<u32>,
    pub eval_batch: usize,
    /// Steps (of `eval_at`) at which each probe's foil is scored too; absent (none) in states
    /// written before foils.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foil_at: Vec<u32>,
    pub device: String,
    /// LoRA finetuning: only adapters train, over the `--init` checkpoint's frozen weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraRun>,
    /// The step the run started at (0, or an `--init` checkpoint's step); absent in format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_step: Option<u32>,
    /// Digests of the shards, their tokenizer and the probes when the run started; absent in
    /// format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<InputDigests>,
}

/// `state.json` of a checkpoint: where every counter stands after `step` updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    pub format: String,
    /// Updates done, in the run's numbering (checkpoint `step-NNNNNN` holds this model).
    pub step: u32,
    /// Position in the learning-rate schedule (reset by `--reset-schedule`, not by
    /// `--reset-step`).
    pub schedule_step: u64,
    /// The next shard step to train on.
    pub data_step: u32,
    pub tokens: u64,
    pub optimizer_step: u64,
    pub rng: [u64; 4],
    pub config: RunConfig,
    /// The run folder's absolute path when this checkpoint was saved: relative paths that do
    /// not lead to an input from the folder where the run is now (a run folder copied alone)
    /// are tried from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_in: Option<PathBuf>,
}

impl TrainState {
    pub fn load(checkpoint: &Path) -> Result<Self> {
        let path = checkpoint.join(STATE_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let state: TrainState =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if state.format != STATE_FORMAT && state.format != STATE_FORMAT_1 {
            bail!(
                "{}: format `{}`; expected `{STATE_FORMAT}` (or the older `{STATE_FORMAT_1}`)",
                path.display(),
                state.format
            );
        }
        Ok(state)
    }

    /// Loads a checkpoint of the run in folder `run` with its paths made usable from here: a
    /// relative path is tried from `run`, then from the folder the run was saved in (format 2);
    /// in format 1, from the working directory, then from the one the run was started in
    /// (inferred from the output folder it recorded). `config.out` becomes `run`.
    pub fn load_in(checkpoint: &Path, run: &Path) -> Result<Self> {
        let mut state = Self::load(checkpoint)?;
        state.resolve_paths(checkpoint, run)?;
        Ok(state)
    }

    fn resolve_paths(&mut self, checkpoint: &Path, run: &Path) -> Result<()> {
        let state_file = checkpoint.join(STATE_FILE);
        let bases: Vec<PathBuf> = if self.format == STATE_FORMAT_1 {
            let mut bases = vec![PathBuf::new()];
            bases.extend(format1_start_folder(run, &self.config.out));
            bases
        } else {
            std::iter::once(run.to_path_buf())
                .chain(self.saved_in.clone())
                .collect()
        };
        let old_format = self.format == STATE_FORMAT_1;
        let find = |stored: &Path, what: &str| -> Result<PathBuf> {
            if stored.is_absolute() {
                if stored.exists() {
                    return Ok(stored.to_path_buf());
                }
                bail!(
                    "{}: the {what} {} does not exist",
                    state_file.display(),
                    stored.display()
                );
            }
            let candidates: Vec<PathBuf> = bases.iter().map(|b| b.join(stored)).collect();
            if let Some(found) = candidates.iter().find(|c| c.exists()) {
                return Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
            }
            let tried = candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(" nor at ");
            let hint = if old_format {
                " (an older state: its paths are relative to the directory the run was started \
                 from; resume it from there)"
            } else {
                ""
            };
            bail!(
                "{}: the {what} `{}` is not found at {tried}{hint}",
                state_file.display(),
                stored.display(),
            )
        };
        self.config.shards = find(&self.config.shards, "shard manifest")?;
        if let Some(probes) = &self.config.probes {
            self.config.probes = Some(find(probes, "probes file")?);
        }
        if let Some(lora) = &mut self.config.lora {
            lora.base = find(&lora.base, "LoRA base checkpoint")?;
        }
        self.config.out = run.to_path_buf();
        Ok(())
    }

    /// The form saved in `state.json` of a run in folder `run`: input paths relative to it, and
    /// its absolute path.
    pub(crate) fn to_saved(&self, run: &Path) -> Result<Self> {
        let mut saved = self.clone();
        saved.format = STATE_FORMAT.into();
        let run_abs = std::fs::canonicalize(run)
            .with_context(|| format!("resolving the run folder {}", run.display()))?;
        let relative = |path: &Path| -> Result<PathBuf> {
            let abs = std::fs::canonicalize(path)
                .with_context(|| format!("resolving {}", path.display()))?;
            Ok(relative_path(&abs, &run_abs).unwrap_or(abs))
        };
        saved.config.shards = relative(&self.config.shards)?;
        if let Some(probes) = &self.config.probes {
            saved.config.probes = Some(relative(probes)?);
        }
        if let Some(lora) = &mut saved.config.lora {
            lora.base = relative(&lora.base)?;
        }
        saved.config.out = PathBuf::new();
        saved.saved_in = Some(run_abs);
        Ok(saved)
    }
}

/// The folder a format-1 run was started from: `run` with the components of the output folder
/// it recorded (relative to that folder) taken off its end, when they match.
fn format1_start_folder(run: &Path, recorded_out: &Path) -> Option<PathBuf> {
    if recorded_out.is_absolute() || recorded_out.as_os_str().is_empty() {
        return None;
    }
    let run = std::fs::canonicalize(run).ok()?;
    let mut base = run.as_path();
    for component in recorded_out.components().rev() {
        match component {
            std::path::Component::Normal(name) if base.file_name() == Some(name) => {
                base = base.parent()?;
            }
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    Some(base.to_path_buf())
}

/// `path` relative to `base` (both absolute and free of `..`), e.g. `../shards/manifest.json`.
fn relative_path(path: &Path, base: &Path) -> Option<PathBuf> {
    let path: Vec<_> = path.components().collect();
    let base: Vec<_> = base.components().collect();
    if path.first() != base.first() {
        return None;
    }
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for component in &path[common..] {
        relative.push(component);
    }
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c/m.json"), Path::new("/a/x/y")).unwrap(),
            PathBuf::from("../../b/c/m.json")
        );
        assert_eq!(
            relative_path(Path::new("/a/run/p.parquet"), Path::new("/a/run")).unwrap(),
            PathBuf::from("p.parquet")
        );
    }
}
