//! Command-line interface: flags to a [`RunConfig`] and a [`Start`].

use std::fmt::Debug;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use factlab_artifacts::ShardManifest;
use factlab_cli::{
    finite_f64_in, int_in, positive, positive_steps, FloatRange, Verbosity, MAX_STEPS,
};
use factlab_model::{AdamWConfig, ModelConfig};

use crate::inputs;
use crate::run::{RunConfig, Session, Start, TrainState};
use crate::run_folder;
use crate::steps::{parse_step_schedule, ContinuationLr, LrSchedule, LrShape, StepSchedule};

/// Defaults of the flags, in one place; `--resume` takes every value from the saved run instead.
pub mod defaults {
    pub const LR: f64 = 4e-4;
    /// Warmup as a fraction of the schedule's steps.
    pub const WARMUP_FRACTION: u64 = 100;
    pub const FINAL_LR_RATIO: f64 = 0.1;
    pub const BETA1: f64 = 0.9;
    pub const BETA2: f64 = 0.95;
    pub const EPS: f64 = 1e-8;
    pub const WEIGHT_DECAY: f64 = 0.1;
    pub const GRAD_CLIP: f64 = 1.0;
    pub const EVAL_BATCH: usize = 64;
    pub const SEED: u64 = 0;
    pub const DEVICE: &str = "cpu";
}

/// A learning rate: above 0 and at most 10.
fn learning_rate() -> FloatRange {
    finite_f64_in((Excluded(0.0), Included(10.0)))
}

/// An Adam β: at least 0 and below 1.
fn beta() -> FloatRange {
    finite_f64_in((Included(0.0), Excluded(1.0)))
}

#[derive(Debug, Parser)]
#[command(
    name = "train",
    version,
    about = "Train the factlab Llama-family model on shards; score probes at scheduled steps.",
    allow_negative_numbers = true,
    after_help = "\
Examples:
  # pretrain from scratch, checkpoints every 500 steps and at 100 and 250
  train --shards data/pretrain/manifest.json --model pipelines/models/tiny.toml \\
        --out runs/base --save-every 500 --save-at 100,250

  # continuation as in Chang et al.: from a checkpoint with its optimizer state, the
  # checkpoint's LR held, steps counted from 0 (the paper's t), probes and their foils scored
  # densely after injections
  train --shards data/inject/manifest.json --init runs/base/checkpoints/step-001000 \\
        --continuation-lr hold --reset-step --out runs/mid-once --probes data/probes.parquet \\
        --eval-schedule '0..=60, 100..=160, log(160..=2500, 30)' --foil-schedule '0..=60:4, 100..=160:4'

  # the batch-size runs of Chang et al.'s App. G: the checkpoint's LR held, a fresh optimizer
  train --shards data/inject-b512/manifest.json --init runs/base/checkpoints/step-001000 \\
        --continuation-lr hold --reset-optimizer --reset-step --out runs/mid-b512 \\
        --probes data/probes.parquet --eval-schedule '0..=60, 100..=160, log(160..=2500, 30)'

  # LoRA finetuning as in Physics of LMs 3.1 (App. D): rank 8 on every block's query and value
  # projections, rank 128 on the embedding, lr 3e-4 with a new cosine schedule, weight decay
  # 0.01; the checkpoint's weights stay frozen
  train --shards data/qa/manifest.json --init runs/base/checkpoints/step-080000 \\
        --reset-step --reset-schedule --lr 3e-4 --warmup-steps 0 --schedule-steps 50000 \\
        --weight-decay 0.01 --lora-rank 8 --lora-embedding-rank 128 --out runs/qa-lora

  # continue a killed run exactly where its last checkpoint left it (in runs/base, wherever the
  # run was started; exit status 3 when its shards, tokenizer or probes changed since)
  train --resume runs/base

Step schedules (--eval-schedule, --save-at) are comma-separated items: N; a..b or a..=b (every
step, end exclusive or inclusive); a..=b:k (every k-th); log(a..=b, k) (k log-spaced points);
steps up to 100000000, and at most 1000000 of them in a schedule. Probes at step t are scored with the weights before the update of step t (t = 0: on load).

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
end of a run.

--resume RUN continues in RUN, wherever the run was started or moved to: the paths in a
checkpoint's state.json are relative to the run folder (tried next from the folder the run was
saved in). Flags given with --resume must agree with the saved run (--device may differ); the
shards, their tokenizer and the probes must be those the run started with, else train exits
with status 3 (and only then), so that a pipeline can start the run afresh. A new run refuses an
--out folder that is not empty unless --force is given, which clears it first. One train
process writes a run folder at a time: a second one (a new run or --resume) is refused while the
first runs, so neither --force nor a resume's clean-up removes a live run's files."
)]
pub struct Cli {
    /// The shard folder's manifest.json (written by `inject`).
    #[arg(long, required_unless_present = "resume")]
    pub shards: Option<PathBuf>,
    /// Output folder: checkpoints/, train-log.parquet, logprobs.parquet. Must be empty or
    /// absent unless --force is given.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Clear a non-empty --out folder before training into it.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Model size preset (TOML, e.g. pipelines/models/tiny.toml) for training from scratch;
    /// vocab_size defaults to the tokenizer's.
    #[arg(long, required_unless_present_any = ["resume", "init"], conflicts_with = "init")]
    pub model: Option<PathBuf>,
    /// Continue from a checkpoint folder: model, optimizer moments and scheduler position.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Resume the run in this output folder from its latest checkpoint, exactly; other flags
    /// are taken from the checkpoint, and any given must agree with it (--device may differ).
    #[arg(long)]
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
    /// Hold the learning rate constant at LR (above 0, at most 10).
    #[arg(long, value_name = "LR", value_parser = learning_rate())]
    pub constant_lr: Option<f64>,
    /// With --init: where the continuation's learning rate comes from [default: schedule].
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        requires = "init",
        conflicts_with = "constant_lr"
    )]
    pub continuation_lr: Option<ContinuationLr>,
    /// Peak learning rate, above 0 and at most 10 [default 4e-4; with --init, the checkpoint's].
    #[arg(long, value_parser = learning_rate())]
    pub lr: Option<f64>,
    /// Decay after warmup [default cosine; with --init, the checkpoint's].
    #[arg(long, value_enum)]
    pub schedule: Option<LrShape>,
    /// Linear warmup steps, at most --schedule-steps [default 1 % of the schedule; with
    /// --init, the checkpoint's].
    #[arg(long, value_parser = int_in(0..=u64::from(MAX_STEPS)))]
    pub warmup_steps: Option<u64>,
    /// Steps from the schedule's start to the end of decay [default: the shards' steps; with
    /// --init, the checkpoint's].
    #[arg(long, value_parser = int_in(1..=u64::from(MAX_STEPS)))]
    pub schedule_steps: Option<u64>,
    /// Final learning rate as a fraction of the peak, from 0 to 1 [default 0.1; with --init,
    /// the checkpoint's].
    #[arg(long, value_parser = finite_f64_in(0.0..=1.0))]
    pub final_lr_ratio: Option<f64>,
    /// Adam's β₁, at least 0 and below 1 [default 0.9].
    #[arg(long, value_parser = beta())]
    pub beta1: Option<f64>,
    /// Adam's β₂, at least 0 and below 1 [default 0.95].
    #[arg(long, value_parser = beta())]
    pub beta2: Option<f64>,
    /// Adam's ε, above 0 and at most 1 [default 1e-8].
    #[arg(long, value_parser = finite_f64_in((Excluded(0.0), Included(1.0))))]
    pub eps: Option<f64>,
    /// Decoupled weight decay, from 0 to 10 [default 0.1].
    #[arg(long, value_parser = finite_f64_in(0.0..=10.0))]
    pub weight_decay: Option<f64>,
    /// Exempt the embedding matrix from weight decay (norm gains are always exempt).
    #[arg(long)]
    pub no_decay_embeddings: bool,
    /// Clip the global gradient norm to this, at least 0 (0: no clipping) [default 1].
    #[arg(long, value_parser = finite_f64_in((Included(0.0), Unbounded)))]
    pub grad_clip: Option<f64>,
    /// Rows per forward/backward pass [default: the whole batch]; the optimizer batch is always
    /// the shards' batch_size.
    #[arg(long, value_parser = positive::<usize>().at_most(1 << 20))]
    pub micro_batch: Option<usize>,
    /// Stop after this many steps [default: all the shards' steps].
    #[arg(long, value_parser = positive_steps())]
    pub steps: Option<u32>,
    /// Save a checkpoint every N steps.
    #[arg(long, value_name = "N", value_parser = positive_steps())]
    pub save_every: Option<u32>,
    /// Save checkpoints at these steps (step schedule); the final step is always saved.
    #[arg(long, value_name = "SCHEDULE", value_parser = parse_step_schedule)]
    pub save_at: Option<StepSchedule>,
    /// probes.parquet to score at the --eval-schedule steps, into logprobs.parquet.
    #[arg(long, requires = "eval_schedule")]
    pub probes: Option<PathBuf>,
    /// Steps at which to score the probes, e.g. '0..=20, 30..100:10, log(100..=2500, 20)'.
    #[arg(long, requires = "probes", value_parser = parse_step_schedule)]
    pub eval_schedule: Option<StepSchedule>,
    /// Also score each probe's foil at these steps, each one of --eval-schedule's (a step
    /// schedule): the target of another knowledge item's probe of the same kind and the nearest
    /// token count (ties: the shorter, then the smaller probe id), after this probe's prompt,
    /// into logprobs.parquet's foil_ columns (null at other steps). A foil costs what its probe
    /// does [default: no foils].
    #[arg(long, value_name = "SCHEDULE", requires = "probes", value_parser = parse_step_schedule)]
    pub foil_schedule: Option<StepSchedule>,
    /// Probes per scoring forward pass [default 64].
    #[arg(long, value_parser = positive::<usize>().at_most(1 << 20))]
    pub eval_batch: Option<usize>,
    /// Run name in logprobs.parquet [default: the output folder's name].
    #[arg(long)]
    pub run_id: Option<String>,
    /// Seed of the initial weights and of LoRA adapters [default 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu, cuda or cuda:N (cuda needs a build with `--features cuda`) [default cpu; with
    /// --resume, the saved run's].
    #[arg(long)]
    pub device: Option<String>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// Parses nothing itself: sets up logging, builds the session and trains.
pub fn run(cli: Cli) -> Result<()> {
    factlab_model::prepare_cpu_runtime();
    cli.verbosity.init_logging();
    let session = match &cli.resume {
        Some(out) => {
            let session = Session::resume_on(out, cli.device.as_deref())?;
            check_resume_flags(&cli, out, session.state())?;
            session
        }
        None => {
            let (config, start) = config_from_flags(&cli)?;
            let session = Session::new(config, start)?;
            if cli.force {
                session.clear_run_folder()?;
            }
            session
        }
    };
    session.run(&cli.verbosity)
}

/// Every flag given with `--resume` must agree with the saved run; `--device` and the
/// verbosity may differ.
pub fn check_resume_flags(cli: &Cli, out: &Path, state: &TrainState) -> Result<()> {
    let config = &state.config;
    let conflict = |flag: &str, given: &dyn Debug, saved: &dyn Debug| {
        anyhow!(
            "--resume {}: {flag} {given:?} conflicts with the saved run's {saved:?}; leave {flag} \
             out to resume the run as it was started, or start a new run (--force to replace \
             this one)",
            out.display()
        )
    };
    let same_file = |given: &Path, saved: &Path| match (
        std::fs::canonicalize(given),
        std::fs::canonicalize(saved),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let Some(shards) = &cli.shards {
        if !same_file(shards, &config.shards) {
            return Err(conflict("--shards", shards, &config.shards));
        }
    }
    if let Some(probes) = &cli.probes {
        match &config.probes {
            Some(saved) if same_file(probes, saved) => {}
            saved => return Err(conflict("--probes", probes, saved)),
        }
    }
    if let Some(path) = &cli.model {
        let manifest = ShardManifest::load(&config.shards)?;
        let given = resolve_vocab(ModelConfig::load_toml(path)?, &config.shards, &manifest)?;
        if given != config.model {
            let (a, b) = (
                serde_json::to_value(&given)?,
                serde_json::to_value(&config.model)?,
            );
            let field = match (a.as_object(), b.as_object()) {
                (Some(a), Some(b)) => a
                    .iter()
                    .find(|(k, v)| b.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k} {v}, saved {}", b.get(k).unwrap_or(&v.clone())))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            bail!(
                "--resume {}: --model {} describes another model than the saved run's ({field}); \
                 leave --model out to resume the run as it was started",
                out.display(),
                path.display()
            );
        }
    }
    let lr = &config.lr;
    if let Some(value) = cli.constant_lr {
        if !(lr.shape == LrShape::Constant && lr.peak == value) {
            return Err(conflict("--constant-lr", &value, lr));
        }
    }
    let optimizer = &config.optimizer;
    macro_rules! agree {
        ($flag:literal, $given:expr, $saved:expr) => {
            if let Some(given) = &$given {
                if given != &$saved {
                    return Err(conflict($flag, given, &$saved));
                }
            }
        };
    }
    agree!("--lr", cli.lr, lr.peak);
    agree!("--schedule", cli.schedule, lr.shape);
    agree!("--warmup-steps", cli.warmup_steps, lr.warmup_steps);
    agree!("--schedule-steps", cli.schedule_steps, lr.total_steps);
    agree!("--final-lr-ratio", cli.final_lr_ratio, lr.final_ratio);
    agree!("--beta1", cli.beta1, optimizer.beta1);
    agree!("--beta2", cli.beta2, optimizer.beta2);
    agree!("--eps", cli.eps, optimizer.eps);
    agree!("--weight-decay", cli.weight_decay, optimizer.weight_decay);
    agree!("--grad-clip", cli.grad_clip, config.grad_clip);
    agree!("--micro-batch", cli.micro_batch, config.micro_batch);
    agree!("--seed", cli.seed, config.seed);
    agree!("--run-id", cli.run_id, config.run_id);
    agree!("--eval-batch", cli.eval_batch, config.eval_batch);
    if cli.no_decay_embeddings && optimizer.decay_embeddings {
        bail!(
            "--resume {}: --no-decay-embeddings conflicts with the saved run, which decays the \
             embeddings; leave it out to resume the run as it was started",
            out.display()
        );
    }
    if let Some(every) = cli.save_every {
        if Some(every) != config.save_every {
            return Err(conflict("--save-every", &every, &config.save_every));
        }
    }
    if let Some(given) = &cli.save_at {
        if given.0 != config.save_at {
            return Err(conflict("--save-at", &given.0, &config.save_at));
        }
    }
    if let Some(given) = &cli.eval_schedule {
        if given.0 != config.eval_at {
            return Err(conflict("--eval-schedule", &given.0, &config.eval_at));
        }
    }
    if let Some(given) = &cli.foil_schedule {
        if given.0 != config.foil_at {
            return Err(conflict("--foil-schedule", &given.0, &config.foil_at));
        }
    }
    if let Some(steps) = cli.steps {
        let Some(first) = config.first_step else {
            bail!(
                "--resume {}: the saved run (an older state) does not record its first step, so \
                 --steps cannot be checked against it; leave --steps out",
                out.display()
            );
        };
        let available = ShardManifest::load(&config.shards)?.steps;
        let end = first.saturating_add(steps.min(available));
        if end != config.end_step {
            bail!(
                "--resume {}: --steps {steps} conflicts with the saved run's {} steps (from step \
                 {first} to {}); leave --steps out to resume the run as it was started",
                out.display(),
                config.end_step - first,
                config.end_step
            );
        }
    }
    Ok(())
}

/// Resolves the flags of a new run (not `--resume`) against the shards and, for `--init`, the
/// checkpoint.
pub fn config_from_flags(cli: &Cli) -> Result<(RunConfig, Start)> {
    crate::lora::check_flags(cli)?;
    let shards = cli.shards.clone().context("--shards is required")?;
    let out = cli.out.clone().context("--out is required")?;
    run_folder::check_fresh(
        &out,
        cli.force,
        &[
            ("--shards", cli.shards.as_deref()),
            ("--init", cli.init.as_deref()),
            ("--probes", cli.probes.as_deref()),
            ("--model", cli.model.as_deref()),
        ],
    )?;
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
    match (&cli.init, &previous, &cli.model) {
        (Some(init), Some(previous), _) => {
            check_init_tokenizer(init, previous, &shards, &manifest)?;
        }
        (None, None, Some(path)) => check_model_vocab(path, &model, &shards, &manifest)?,
        _ => {}
    }
    let lr = match (&previous, cli.constant_lr, cli.continuation_lr) {
        (_, Some(value), _) => LrSchedule::constant(value),
        (Some(p), None, Some(ContinuationLr::Hold)) => {
            refuse_schedule_flags_with_hold(cli)?;
            LrSchedule::constant(p.config.lr.lr(p.schedule_step))
        }
        (base, None, _) => {
            let total = u64::from(manifest.steps);
            let base = base
                .as_ref()
                .map(|p| p.config.lr.clone())
                .unwrap_or(LrSchedule {
                    shape: LrShape::Cosine,
                    peak: defaults::LR,
                    warmup_steps: total / defaults::WARMUP_FRACTION,
                    total_steps: total,
                    final_ratio: defaults::FINAL_LR_RATIO,
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
    if lr.shape != LrShape::Constant && lr.warmup_steps > lr.total_steps {
        bail!(
            "--warmup-steps {} exceeds --schedule-steps {} (the schedule's length{}): warmup \
             must end within the schedule",
            lr.warmup_steps,
            lr.total_steps,
            if cli.schedule_steps.is_none() {
                ", here taken from the shards or the --init checkpoint"
            } else {
                ""
            }
        );
    }
    let eval_at = cli
        .eval_schedule
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    let foil_at = cli
        .foil_schedule
        .as_ref()
        .map(|s| s.0.clone())
        .unwrap_or_default();
    if let Some(step) = foil_at.iter().find(|s| eval_at.binary_search(s).is_err()) {
        bail!(
            "--foil-schedule: step {step} is not an --eval-schedule step; foils are scored \
             beside their probes, at steps of --eval-schedule"
        );
    }
    let run_id = cli.run_id.clone().unwrap_or_else(|| {
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    });
    let seed = cli.seed.unwrap_or(defaults::SEED);
    let config = RunConfig {
        shards,
        out,
        run_id,
        seed,
        optimizer: AdamWConfig {
            beta1: cli.beta1.unwrap_or(defaults::BETA1),
            beta2: cli.beta2.unwrap_or(defaults::BETA2),
            eps: cli.eps.unwrap_or(defaults::EPS),
            weight_decay: cli.weight_decay.unwrap_or(defaults::WEIGHT_DECAY),
            decay_embeddings: !cli.no_decay_embeddings,
        },
        grad_clip: cli.grad_clip.unwrap_or(defaults::GRAD_CLIP),
        lr,
        micro_batch: cli.micro_batch.unwrap_or(manifest.batch_size as usize),
        end_step: cli.steps.unwrap_or(u32::MAX),
        save_every: cli.save_every,
        save_at: cli
            .save_at
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default(),
        probes: cli.probes.clone(),
        eval_at,
        eval_batch: cli.eval_batch.unwrap_or(defaults::EVAL_BATCH),
        foil_at,
        device: cli
            .device
            .clone()
            .unwrap_or_else(|| defaults::DEVICE.to_string()),
        lora: crate::lora::from_flags(cli, &model)?,
        model,
        first_step: None,
        inputs: None,
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

/// `--continuation-lr hold` takes the rate from the checkpoint: a flag that shapes a schedule
/// would have no effect, so it is refused rather than ignored.
fn refuse_schedule_flags_with_hold(cli: &Cli) -> Result<()> {
    let given = [
        ("--lr", cli.lr.is_some()),
        ("--schedule", cli.schedule.is_some()),
        ("--warmup-steps", cli.warmup_steps.is_some()),
        ("--schedule-steps", cli.schedule_steps.is_some()),
        ("--final-lr-ratio", cli.final_lr_ratio.is_some()),
        ("--reset-schedule", cli.reset_schedule),
    ];
    match given.iter().find(|(_, given)| *given) {
        Some((flag, _)) => bail!(
            "{flag} shapes a learning-rate schedule, but --continuation-lr hold holds the \
             checkpoint's rate; leave {flag} out, or use --continuation-lr schedule"
        ),
        None => Ok(()),
    }
}

/// Refuses shards whose tokenizer is not the one the `--init` checkpoint was trained with: by
/// the tokenizer digest its state recorded, else by its run's tokenizer file if it can be found,
/// else by vocabulary size.
fn check_init_tokenizer(
    init: &Path,
    previous: &TrainState,
    shards: &Path,
    manifest: &ShardManifest,
) -> Result<()> {
    let new_path = inputs::tokenizer_path(shards, manifest);
    let tokenizer = inputs::load_tokenizer(&new_path)?;
    let digest = inputs::tokenizer_digest(&tokenizer, &new_path)?;
    let run_folder = init
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let old_tokenizer = TrainState::load_in(init, run_folder).ok().and_then(|s| {
        let old_manifest = ShardManifest::load(&s.config.shards).ok()?;
        Some(inputs::tokenizer_path(&s.config.shards, &old_manifest))
    });
    let saved = match previous.config.inputs.as_ref().map(|i| i.tokenizer.clone()) {
        Some(saved) => Some(saved),
        None => old_tokenizer
            .as_ref()
            .and_then(|p| inputs::load_tokenizer(p).ok().map(|t| (t, p)))
            .and_then(|(t, p)| inputs::tokenizer_digest(&t, p).ok()),
    };
    let old_name = match &old_tokenizer {
        Some(path) => path.display().to_string(),
        None => format!(
            "recorded in {}",
            init.join(crate::state::STATE_FILE).display()
        ),
    };
    match saved {
        Some(saved) if saved != digest => bail!(
            "{} (the tokenizer of --shards {}) is not the tokenizer --init {} was trained with \
             ({old_name}): its token ids would mean other text to the model",
            new_path.display(),
            shards.display(),
            init.display()
        ),
        Some(_) => Ok(()),
        None => {
            let vocab = tokenizer.get_vocab_size(true);
            let model_vocab = previous.config.model.vocab();
            if vocab > model_vocab {
                bail!(
                    "{} (the tokenizer of --shards {}) has {vocab} tokens, more than the {model_vocab} \
                     of the --init {} model: it is not the tokenizer the model was trained with",
                    new_path.display(),
                    shards.display(),
                    init.display()
                );
            }
            tracing::warn!(
                "--init {}: its state records no tokenizer digest and its tokenizer cannot be \
                 found; only the vocabulary size of {} was checked",
                init.display(),
                new_path.display()
            );
            Ok(())
        }
    }
}

/// A preset's vocabulary must hold every id of the shards' tokenizer.
fn check_model_vocab(
    path: &Path,
    model: &ModelConfig,
    shards: &Path,
    manifest: &ShardManifest,
) -> Result<()> {
    let tokenizer_file = inputs::tokenizer_path(shards, manifest);
    let vocab = inputs::load_tokenizer(&tokenizer_file)?.get_vocab_size(true);
    if vocab > model.vocab() {
        bail!(
            "--model {}: vocab_size {} is smaller than the {vocab} tokens of {} (the tokenizer of \
             {}); leave vocab_size out to take the tokenizer's",
            path.display(),
            model.vocab(),
            tokenizer_file.display(),
            shards.display()
        );
    }
    Ok(())
}

/// Fills a preset's missing vocab_size from the manifest's tokenizer, and its eos id.
fn resolve_vocab(
    mut model: ModelConfig,
    shards: &std::path::Path,
    manifest: &ShardManifest,
) -> Result<ModelConfig> {
    if model.vocab_size.is_none() {
        let path = inputs::tokenizer_path(shards, manifest);
        model.vocab_size = Some(inputs::load_tokenizer(&path)?.get_vocab_size(true));
    }
    model.eos_token_id = Some(manifest.eos_token_id);
    Ok(model)
}
