//! Command-line interface: flags to a [`RunConfig`] and a [`Start`].

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use factlab_artifacts::ShardManifest;
use factlab_cli::Verbosity;
use factlab_model::{AdamWConfig, ModelConfig};
use tokenizers::Tokenizer;

use crate::run::{RunConfig, Session, Start, TrainState};
use crate::steps::{parse_steps, LrSchedule, LrShape};

#[derive(Debug, Parser)]
#[command(
    name = "train",
    version,
    about = "Train the factlab Llama-family model on shards; score probes at scheduled steps.",
    after_help = "\
Examples:
  # pretrain from scratch, checkpoints every 500 steps and at 100 and 250
  train --shards data/pretrain/manifest.json --model pipelines/models/tiny.toml \\
        --out runs/base --save-every 500 --save-at 100,250

  # continuation as in Chang et al.: from a checkpoint, constant LR, fresh optimizer,
  # steps counted from 0 (the paper's t), probes scored densely after injections
  train --shards data/inject/manifest.json --init runs/base/checkpoints/step-001000 \\
        --constant-lr 4e-4 --reset-optimizer --reset-step --out runs/mid-once \\
        --probes data/probes.parquet --eval-schedule '0..=60, 100..=160, log(160..=2500, 30)'

  # LoRA finetuning as in Physics of LMs 3.1 (App. D): rank 8 on every block's query and value
  # projections, rank 128 on the embedding, lr 3e-4 with a new cosine schedule, weight decay
  # 0.01; the checkpoint's weights stay frozen
  train --shards data/qa/manifest.json --init runs/base/checkpoints/step-080000 \\
        --reset-step --reset-schedule --lr 3e-4 --warmup-steps 0 --schedule-steps 50000 \\
        --weight-decay 0.01 --lora-rank 8 --lora-embedding-rank 128 --out runs/qa-lora

  # continue a killed run exactly where its last checkpoint left it
  train --resume runs/base

Step schedules (--eval-schedule, --save-at) are comma-separated items: N; a..b or a..=b (every
step, end exclusive or inclusive); a..=b:k (every k-th); log(a..=b, k) (k log-spaced points).
Probes at step t are scored with the weights before the update of step t (t = 0: on load).

LoRA (--lora-rank, --lora-embedding-rank): each adapted weight W is used as W + (alpha/r)·B·A,
B zero at the start (so step 0 is the checkpoint's model) and A seeded by --seed. Only A and B
train, with their own AdamW moments (fresh: --reset-optimizer is implied) and the --weight-decay
applied to every adapter. Checkpoints hold the merged weights in model.safetensors, loadable as
any other, and the adapters and their moments in lora-adapters.safetensors and
lora-optimizer.safetensors; --resume rebuilds the model from the --init checkpoint, which must
then be unchanged.

On the CPU the model runs fused kernels (RMSNorm, attention core, SwiGLU, output layer with
cross-entropy, AdamW) and train tunes the allocator and sets CANDLE_BARRIER_POOL_SPIN_LIMIT=0
unless it is set; on a GPU (--device cuda, a build with the cuda feature) it runs candle's
composed ops. The time spent reading data, training, scoring probes and saving is logged at the
end of a run."
)]
pub struct Cli {
    /// The shard folder's manifest.json (written by `inject`).
    #[arg(long, required_unless_present = "resume")]
    pub shards: Option<PathBuf>,
    /// Output folder: checkpoints/, train-log.parquet, logprobs.parquet.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Model size preset (TOML, e.g. pipelines/models/tiny.toml) for training from scratch;
    /// vocab_size defaults to the tokenizer's.
    #[arg(long, required_unless_present_any = ["resume", "init"], conflicts_with = "init")]
    pub model: Option<PathBuf>,
    /// Continue from a checkpoint folder: model, optimizer moments and scheduler position.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Resume the run in this output folder from its latest checkpoint, exactly; other flags
    /// are taken from the checkpoint.
    #[arg(long, conflicts_with_all = ["shards", "out", "model", "init"])]
    pub resume: Option<PathBuf>,
    /// With --init: start AdamW's moments from zero.
    #[arg(long, requires = "init")]
    pub reset_optimizer: bool,
    /// With --init: number this run's steps from 0 (the paper's t) instead of the checkpoint's.
    #[arg(long, requires = "init")]
    pub reset_step: bool,
    /// With --init: start the learning-rate schedule afresh (warmup, then decay over
    /// --schedule-steps) instead of at the checkpoint's position in its schedule.
    #[arg(long, requires = "init")]
    pub reset_schedule: bool,
    /// With --init: LoRA finetuning, a rank-R update of every block's query and value
    /// projections; only the adapters train, the checkpoint's weights stay frozen.
    #[arg(long, value_name = "R", conflicts_with = "resume")]
    pub lora_rank: Option<usize>,
    /// With --init: LoRA update of rank R2 of the embedding. With tied embeddings (the
    /// default) the output layer is the embedding and sees the same update; an untied output
    /// layer stays frozen.
    #[arg(long, value_name = "R2", conflicts_with = "resume")]
    pub lora_embedding_rank: Option<usize>,
    /// Scale each LoRA update by ALPHA / its rank [default: scale 1, as alpha = rank would].
    #[arg(long, value_name = "ALPHA", conflicts_with = "resume")]
    pub lora_alpha: Option<f64>,
    /// Hold the learning rate constant at LR; with --init and no value, at the checkpoint's
    /// scheduled rate.
    #[arg(long, value_name = "LR", num_args = 0..=1)]
    pub constant_lr: Option<Option<f64>>,
    /// Peak learning rate [default 4e-4; with --init, the checkpoint's].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Decay after warmup [default cosine; with --init, the checkpoint's].
    #[arg(long, value_enum)]
    pub schedule: Option<LrShape>,
    /// Linear warmup steps [default 1 % of the schedule; with --init, the checkpoint's].
    #[arg(long)]
    pub warmup_steps: Option<u64>,
    /// Steps from the schedule's start to the end of decay [default: the shards' steps; with
    /// --init, the checkpoint's].
    #[arg(long)]
    pub schedule_steps: Option<u64>,
    /// Final learning rate as a fraction of the peak [default 0.1; with --init, the checkpoint's].
    #[arg(long)]
    pub final_lr_ratio: Option<f64>,
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    #[arg(long, default_value_t = 0.95)]
    pub beta2: f64,
    #[arg(long, default_value_t = 1e-8)]
    pub eps: f64,
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Exempt the embedding matrix from weight decay (norm gains are always exempt).
    #[arg(long)]
    pub no_decay_embeddings: bool,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Rows per forward/backward pass [default: the whole batch]; the optimizer batch is always
    /// the shards' batch_size.
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Stop after this many steps [default: all the shards' steps].
    #[arg(long)]
    pub steps: Option<u32>,
    /// Save a checkpoint every N steps.
    #[arg(long, value_name = "N")]
    pub save_every: Option<u32>,
    /// Save checkpoints at these steps (step schedule); the final step is always saved.
    #[arg(long, value_name = "SCHEDULE", default_value = "")]
    pub save_at: String,
    /// probes.parquet to score at the --eval-schedule steps, into logprobs.parquet.
    #[arg(long, requires = "eval_schedule")]
    pub probes: Option<PathBuf>,
    /// Steps at which to score the probes, e.g. '0..=20, 30..100:10, log(100..=2500, 20)'.
    #[arg(long, requires = "probes")]
    pub eval_schedule: Option<String>,
    /// Probes per scoring forward pass.
    #[arg(long, default_value_t = 64)]
    pub eval_batch: usize,
    /// Run name in logprobs.parquet [default: the output folder's name].
    #[arg(long)]
    pub run_id: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// Parses nothing itself: sets up logging, builds the session and trains.
pub fn run(cli: Cli) -> Result<()> {
    factlab_model::prepare_cpu_runtime();
    cli.verbosity.init_logging();
    let session = match &cli.resume {
        Some(out) => Session::resume(out)?,
        None => {
            let (config, start) = config_from_flags(&cli)?;
            Session::new(config, start)?
        }
    };
    session.run(&cli.verbosity)
}

/// Resolves the flags of a new run (not `--resume`) against the shards and, for `--init`, the
/// checkpoint.
pub fn config_from_flags(cli: &Cli) -> Result<(RunConfig, Start)> {
    crate::lora::check_flags(cli)?;
    let shards = cli.shards.clone().context("--shards is required")?;
    let out = cli.out.clone().context("--out is required")?;
    let manifest = ShardManifest::load(&shards)?;
    let previous = cli.init.as_ref().map(|c| TrainState::load(c)).transpose()?;
    let model = match (&cli.model, &previous) {
        (_, Some(previous)) => previous.config.model.clone(),
        (Some(path), None) => resolve_vocab(ModelConfig::load_toml(path)?, &shards, &manifest)?,
        (None, None) => bail!("--model or --init is required"),
    };
    if (manifest.seq_len as usize) > model.max_position_embeddings {
        bail!(
            "{}: seq_len {} exceeds the model's max_position_embeddings {}",
            shards.display(),
            manifest.seq_len,
            model.max_position_embeddings
        );
    }
    let lr = match (&previous, cli.constant_lr) {
        (_, Some(Some(value))) => LrSchedule::constant(value),
        (Some(p), Some(None)) => LrSchedule::constant(p.config.lr.lr(p.schedule_step)),
        (None, Some(None)) => bail!("--constant-lr needs a value when training from scratch"),
        (base, None) => {
            let total = u64::from(manifest.steps);
            let base = base
                .as_ref()
                .map(|p| p.config.lr.clone())
                .unwrap_or(LrSchedule {
                    shape: LrShape::Cosine,
                    peak: 4e-4,
                    warmup_steps: total / 100,
                    total_steps: total,
                    final_ratio: 0.1,
                });
            LrSchedule {
                shape: cli.schedule.unwrap_or(base.shape),
                peak: cli.lr.unwrap_or(base.peak),
                warmup_steps: cli.warmup_steps.unwrap_or(base.warmup_steps),
                total_steps: cli.schedule_steps.unwrap_or(base.total_steps),
                final_ratio: cli.final_lr_ratio.unwrap_or(base.final_ratio),
            }
        }
    };
    let eval_at = match &cli.eval_schedule {
        Some(text) => parse_steps(text).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let run_id = cli.run_id.clone().unwrap_or_else(|| {
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    });
    let config = RunConfig {
        shards,
        out,
        run_id,
        seed: cli.seed,
        optimizer: AdamWConfig {
            beta1: cli.beta1,
            beta2: cli.beta2,
            eps: cli.eps,
            weight_decay: cli.weight_decay,
            decay_embeddings: !cli.no_decay_embeddings,
        },
        grad_clip: cli.grad_clip,
        lr,
        micro_batch: cli.micro_batch.unwrap_or(manifest.batch_size as usize),
        end_step: cli.steps.unwrap_or(u32::MAX),
        save_every: cli.save_every,
        save_at: parse_steps(&cli.save_at).map_err(anyhow::Error::msg)?,
        probes: cli.probes.clone(),
        eval_at,
        eval_batch: cli.eval_batch,
        device: cli.device.clone(),
        lora: crate::lora::from_flags(cli, &model)?,
        model,
    };
    let start = match &cli.init {
        Some(checkpoint) => Start::Init {
            checkpoint: checkpoint.clone(),
            reset_optimizer: cli.reset_optimizer,
            reset_step: cli.reset_step,
            reset_schedule: cli.reset_schedule,
        },
        None => Start::Scratch,
    };
    Ok((config, start))
}

/// Fills a preset's missing vocab_size from the manifest's tokenizer, and its eos id.
fn resolve_vocab(
    mut model: ModelConfig,
    shards: &std::path::Path,
    manifest: &ShardManifest,
) -> Result<ModelConfig> {
    if model.vocab_size.is_none() {
        let path = shards
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(&manifest.tokenizer);
        let tokenizer =
            Tokenizer::from_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        model.vocab_size = Some(tokenizer.get_vocab_size(true));
    }
    model.eos_token_id = Some(manifest.eos_token_id);
    Ok(model)
}
