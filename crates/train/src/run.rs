//! The training loop: fresh, continued from a checkpoint (`--init`), or resumed exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use factlab_artifacts::{read_rows, LogprobRow, Probe, ShardManifest, ShardRow, TrainLogRow};
use factlab_cli::Verbosity;
use factlab_model::checkpoint;
use factlab_model::{add_foils, encode_probes, score_probes, AdamW, EncodedProbe, Llama, Params};
use factlab_rng::Rng;

use crate::data::ShardStream;
use crate::inputs::InputDigests;
use crate::lora::{self, Weights};
use crate::run_folder::{self, RunFolderLock};
use crate::state::STATE_FORMAT;
pub use crate::state::{
    RunConfig, TrainState, CHECKPOINTS_DIR, LOGPROBS_FILE, OPTIMIZER_FILE, STATE_FILE,
    TRAIN_LOG_FILE,
};
use crate::update;

mod checkpointing;

/// A run ready to train: model, optimizer and data positioned at `state`.
pub struct Session {
    state: TrainState,
    weights: Weights,
    optimizer: AdamW,
    /// Run-time RNG, saved in checkpoints (nothing in the loop draws from it yet).
    rng: Rng,
    stream: ShardStream,
    probes: Vec<EncodedProbe>,
    log: Vec<TrainLogRow>,
    logprobs: Vec<LogprobRow>,
    device: Device,
    /// This process's hold on the run folder, released when the session ends.
    run_lock: RunFolderLock,
    /// Eval and checkpoint at the current step are already done (a resumed run).
    resumed: bool,
}

/// Seconds spent in each phase of a run, reported at its end.
#[derive(Default)]
struct PhaseTimes {
    data: f64,
    training: f64,
    scoring: f64,
    saving: f64,
}

/// Where a new (non-resumed) run takes its weights from.
#[derive(Debug)]
pub enum Start {
    Scratch,
    Init {
        checkpoint: PathBuf,
        reset_optimizer: bool,
        reset_step: bool,
        reset_schedule: bool,
    },
}

impl Session {
    /// `config.end_step` counts updates from the run's first step; it is made absolute here.
    pub fn new(mut config: RunConfig, start: Start) -> Result<Self> {
        let device = factlab_model::device(&config.device)?;
        let manifest = ShardManifest::load(&config.shards)?;
        let mut state = TrainState {
            format: STATE_FORMAT.into(),
            step: 0,
            schedule_step: 0,
            data_step: manifest.start_step,
            tokens: 0,
            optimizer_step: 0,
            rng: Rng::new(config.seed).state(),
            config: config.clone(),
            saved_in: None,
        };
        let (weights, optimizer) = match start {
            Start::Scratch => {
                let params = Params::init(&config.model, config.seed, &device)?;
                let optimizer = AdamW::new(config.optimizer.clone(), &params)?;
                (Weights { params, lora: None }, optimizer)
            }
            Start::Init {
                checkpoint,
                reset_optimizer,
                reset_step,
                reset_schedule,
            } => {
                let (_, params) = checkpoint::load_model(&checkpoint, &device)?;
                let previous = TrainState::load(&checkpoint)?;
                if !reset_schedule {
                    state.schedule_step = previous.schedule_step;
                }
                if !reset_step {
                    state.step = previous.step;
                }
                let (weights, optimizer) = match &config.lora {
                    Some(run) => {
                        lora::start(run, &config.model, params, config.seed, &config.optimizer)?
                    }
                    None if previous.config.lora.is_some() && !reset_optimizer => {
                        anyhow::bail!(
                            "{}: a LoRA checkpoint holds optimizer state for its adapters only; \
                             continue from it with --reset-optimizer or with new --lora-* adapters",
                            checkpoint.display()
                        )
                    }
                    None if reset_optimizer => {
                        let optimizer = AdamW::new(config.optimizer.clone(), &params)?;
                        (Weights { params, lora: None }, optimizer)
                    }
                    None => {
                        let optimizer = AdamW::load(
                            config.optimizer.clone(),
                            previous.optimizer_step,
                            &params,
                            &checkpoint.join(OPTIMIZER_FILE),
                            &device,
                        )?;
                        (Weights { params, lora: None }, optimizer)
                    }
                };
                state.optimizer_step = optimizer.step;
                (weights, optimizer)
            }
        };
        let available = manifest.steps;
        config.end_step = state.step + config.end_step.min(available);
        config.first_step = Some(state.step);
        config.inputs = Some(InputDigests::of(&config.shards, config.probes.as_deref())?);
        state.config = config;
        let stream = ShardStream::open(&state.config.shards, state.data_step)?;
        let probes = load_probes(&state.config, &stream)?;
        // Last, once every input has been read: a run refused for its inputs creates no folder.
        let run_lock = run_folder::lock(&state.config.out)?;
        Ok(Session {
            rng: Rng::from_state(state.rng),
            state,
            weights,
            optimizer,
            stream,
            probes,
            log: Vec::new(),
            logprobs: Vec::new(),
            device,
            run_lock,
            resumed: false,
        })
    }

    /// Continues the run in `out` from its latest checkpoint, on the device it was saved with.
    pub fn resume(out: &Path) -> Result<Self> {
        Self::resume_on(out, None)
    }

    /// Continues the run in folder `out` (wherever it was started: everything is written
    /// there) from its latest checkpoint, on `device` if given. Refuses with
    /// [`crate::inputs::InputsChanged`] when the shards, their tokenizer or the probes differ
    /// from those the run started with.
    pub fn resume_on(out: &Path, device: Option<&str>) -> Result<Self> {
        let folder = out.join(CHECKPOINTS_DIR);
        if !out.is_dir() {
            anyhow::bail!("--resume {}: no such run folder", out.display());
        }
        // Taken before anything is removed: a live run's temporary checkpoint is never a
        // killed run's leftover.
        let run_lock = run_folder::lock(out)?;
        checkpoint::remove_partial_folders(&folder)?;
        let latest = checkpoint::latest(&folder)?
            .with_context(|| format!("no checkpoint to resume in {}", folder.display()))?;
        let mut state = TrainState::load_in(&latest, out)?;
        if let Some(device) = device {
            state.config.device = device.to_string();
        }
        match &state.config.inputs {
            Some(saved) => InputDigests::of(&state.config.shards, state.config.probes.as_deref())?
                .check_unchanged(
                    saved,
                    &state.config.shards,
                    state.config.probes.as_deref(),
                    &latest,
                )?,
            None => tracing::warn!(
                "{}: an older state without input digests; the shards {} cannot be checked \
                 against those the run started with",
                latest.join(STATE_FILE).display(),
                state.config.shards.display()
            ),
        }
        let config = &state.config;
        let device = factlab_model::device(&config.device)?;
        let (weights, optimizer) = match &config.lora {
            Some(run) => lora::resume(
                run,
                &latest,
                &config.optimizer,
                state.optimizer_step,
                &device,
            )?,
            None => {
                let (_, params) = checkpoint::load_model(&latest, &device)?;
                let optimizer = AdamW::load(
                    config.optimizer.clone(),
                    state.optimizer_step,
                    &params,
                    &latest.join(OPTIMIZER_FILE),
                    &device,
                )?;
                (Weights { params, lora: None }, optimizer)
            }
        };
        let stream = ShardStream::open(&config.shards, state.data_step)?;
        let probes = load_probes(config, &stream)?;
        // The logs are written before each checkpoint, so they hold at least its rows.
        let log_path = out.join(TRAIN_LOG_FILE);
        let log = if log_path.exists() {
            read_rows::<TrainLogRow>(&log_path)?
                .into_iter()
                .filter(|r| r.step < state.step)
                .collect()
        } else {
            Vec::new()
        };
        let logprobs_path = out.join(LOGPROBS_FILE);
        let logprobs = if logprobs_path.exists() {
            read_rows::<LogprobRow>(&logprobs_path)?
                .into_iter()
                .filter(|r| r.step <= state.step)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Session {
            rng: Rng::from_state(state.rng),
            state,
            weights,
            optimizer,
            stream,
            probes,
            log,
            logprobs,
            device,
            run_lock,
            resumed: true,
        })
    }

    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// Empties the run folder of a new run (`--force`), under this session's lock.
    pub fn clear_run_folder(&self) -> Result<()> {
        run_folder::clear(&self.state.config.out, &self.run_lock)
    }

    /// Trains to `end_step`, scoring and checkpointing on schedule; always ends with a
    /// checkpoint of the final weights.
    pub fn run(mut self, verbosity: &Verbosity) -> Result<()> {
        let config = self.state.config.clone();
        let model = self.weights.model(&config.model, true)?;
        let scorer = self.weights.model(&config.model, false)?;
        let first_step = self.state.step;
        let progress = verbosity.progress(
            u64::from(config.end_step.saturating_sub(first_step)),
            "steps",
        );
        let started_run = Instant::now();
        let tokens_per_step = u64::from(self.stream.manifest().batch_size)
            * u64::from(self.stream.manifest().seq_len);
        let mut last_saved = None;
        let mut time = PhaseTimes::default();
        loop {
            let step = self.state.step;
            if !std::mem::take(&mut self.resumed) {
                if config.eval_at.binary_search(&step).is_ok() {
                    let started = Instant::now();
                    self.score(&scorer, step)?;
                    time.scoring += started.elapsed().as_secs_f64();
                }
                let scheduled = config.save_at.binary_search(&step).is_ok()
                    || config
                        .save_every
                        .is_some_and(|n| n > 0 && step.is_multiple_of(n));
                if scheduled || step == config.end_step {
                    let started = Instant::now();
                    self.save()?;
                    time.saving += started.elapsed().as_secs_f64();
                    last_saved = Some(step);
                }
            }
            if step >= config.end_step {
                break;
            }
            let started = Instant::now();
            let rows = self.stream.batch(self.state.data_step)?;
            time.data += started.elapsed().as_secs_f64();
            let lr = config.lr.lr(self.state.schedule_step);
            let (loss, grad_norm) = self.train_step(&model, &rows, lr)?;
            if !loss.is_finite() || !grad_norm.is_finite() {
                anyhow::bail!(
                    "step {step}: the loss is {loss} and the gradient norm {grad_norm}: training \
                     diverged (lr {lr}); nothing of this step was saved"
                );
            }
            let seconds = started.elapsed().as_secs_f64();
            time.training += seconds;
            self.state.tokens += tokens_per_step;
            self.log.push(TrainLogRow {
                step,
                loss,
                lr,
                grad_norm,
                tokens: self.state.tokens,
                tokens_per_s: tokens_per_step as f64 / seconds,
            });
            self.state.step += 1;
            self.state.schedule_step += 1;
            self.state.data_step += 1;
            progress.set_position(u64::from(self.state.step - first_step));
            progress.set_message(format!(
                "loss {loss:.4}  {:.0} tok/s",
                tokens_per_step as f64 / seconds
            ));
            tracing::debug!(step, loss, lr, grad_norm, "step");
        }
        progress.finish_and_clear();
        if last_saved != Some(config.end_step) {
            self.save()?;
        }
        let trained = u64::from(config.end_step - first_step) * tokens_per_step;
        let seconds = started_run.elapsed().as_secs_f64();
        tracing::info!(
            "trained {trained} tokens in {seconds:.2} s: {:.0} tokens/s",
            trained as f64 / seconds
        );
        tracing::info!(
            "time: reading data {:.2} s, training steps {:.2} s (data included), scoring probes \
             {:.2} s, saving {:.2} s",
            time.data,
            time.training,
            time.scoring,
            time.saving
        );
        Ok(())
    }

    /// One optimizer update on the batch (see [`update::gradient_step`]).
    fn train_step(&mut self, model: &Llama, rows: &[ShardRow], lr: f64) -> Result<(f64, f64)> {
        let config = &self.state.config;
        let (loss, norm) = update::gradient_step(
            model,
            self.weights.trainable(),
            &mut self.optimizer,
            rows,
            update::StepSettings {
                micro_batch: config.micro_batch,
                grad_clip: config.grad_clip,
                lr,
            },
            &self.device,
        )?;
        self.state.optimizer_step = self.optimizer.step;
        Ok((loss, norm))
    }

    fn score(&mut self, scorer: &Llama, step: u32) -> Result<()> {
        let config = &self.state.config;
        let with_foils = config.foil_at.binary_search(&step).is_ok();
        let scores = score_probes(
            scorer,
            &self.probes,
            with_foils,
            config.eval_batch,
            &self.device,
        )?;
        self.logprobs.extend(scores.into_iter().map(|s| {
            let foil = s.foil.map(|(_, score)| score);
            LogprobRow {
                run_id: config.run_id.clone(),
                step,
                probe_id: s.probe_id,
                knowledge_id: s.knowledge_id,
                kind: s.kind,
                target_logprob: s.target.target_logprob,
                first_token_logprob: s.target.first_token_logprob,
                target_tokens: s.target.target_tokens,
                foil_probe_id: s.foil.map(|(id, _)| id),
                foil_target_logprob: foil.map(|f| f.target_logprob),
                foil_first_token_logprob: foil.map(|f| f.first_token_logprob),
                foil_target_tokens: foil.map(|f| f.target_tokens),
            }
        }));
        Ok(())
    }
}

fn load_probes(config: &RunConfig, stream: &ShardStream) -> Result<Vec<EncodedProbe>> {
    let Some(path) = &config.probes else {
        return Ok(Vec::new());
    };
    let probes = read_rows::<Probe>(path)?;
    let manifest = stream.manifest();
    let tokenizer_path = crate::inputs::tokenizer_path(&config.shards, manifest);
    let tokenizer = crate::inputs::load_tokenizer(&tokenizer_path)?;
    let max_len = config.model.max_position_embeddings;
    let mut encoded = encode_probes(&tokenizer, &probes, Some(manifest.eos_token_id), max_len)
        .with_context(|| format!("encoding {}", path.display()))?;
    if !config.foil_at.is_empty() {
        add_foils(&mut encoded, max_len)
            .with_context(|| format!("choosing foils among {}", path.display()))?;
    }
    Ok(encoded)
}
