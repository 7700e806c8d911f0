//! What a run is and where it stands: the configuration stored in every checkpoint, and the
//! counters of `state.json`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use factlab_model::{AdamWConfig, ModelConfig};
use serde::{Deserialize, Serialize};

use crate::lora::LoraRun;
use crate::steps::LrSchedule;

pub const TRAIN_LOG_FILE: &str = "train-log.parquet";
pub const LOGPROBS_FILE: &str = "logprobs.parquet";
pub const CHECKPOINTS_DIR: &str = "checkpoints";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";
pub(crate) const STATE_FORMAT: &str = "factlab-train-state/1";

/// Everything that defines a run; stored in every checkpoint so `--resume` needs nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The shard folder's `manifest.json`.
    pub shards: PathBuf,
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
    pub device: String,
    /// LoRA finetuning: only adapters train, over the `--init` checkpoint's frozen weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraRun>,
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
}

impl TrainState {
    pub fn load(checkpoint: &Path) -> Result<Self> {
        let path = checkpoint.join(STATE_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let state: TrainState =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if state.format != STATE_FORMAT {
            bail!(
                "{}: format `{}`; expected `{STATE_FORMAT}`",
                path.display(),
                state.format
            );
        }
        Ok(state)
    }
}
