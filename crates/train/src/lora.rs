//! LoRA finetuning in a run: the `--lora-*` flags, and the weights a session trains — all of
//! the model's, or adapters over the `--init` checkpoint's weights, frozen. A LoRA checkpoint
//! holds the merged weights in the normal model files (so `probe` and transformers load it as
//! any other), and beside them the adapters and their optimizer state. `--resume` rebuilds the
//! model from the base checkpoint, which must not have changed since (its fingerprint is kept).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use candle_core::Device;
use factlab_model::checkpoint::{self, MODEL_FILE};
use factlab_model::{AdamW, Kernels, Llama, Lora, LoraConfig, ModelConfig, Params};
use serde::{Deserialize, Serialize};

use crate::inputs::InputsChanged;
use crate::state::OPTIMIZER_FILE;
use crate::Cli;

/// The adapters of a LoRA checkpoint.
pub const ADAPTERS_FILE: &str = "lora-adapters.safetensors";
/// Their AdamW moments (a full run's are in `optimizer.safetensors`).
pub const ADAPTER_OPTIMIZER_FILE: &str = "lora-optimizer.safetensors";

/// What a LoRA run adds to its [`crate::RunConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraRun {
    pub adapters: LoraConfig,
    /// The checkpoint folder whose weights the adapters update (`--init`).
    pub base: PathBuf,
    /// Length and FNV-1a hash of the base's model file when the run started.
    pub base_fingerprint: String,
}

/// Checks of the `--lora-*` flags that need no file, so a wrong flag is reported first.
pub fn check_flags(cli: &Cli) -> Result<()> {
    let ranks = [
        ("--lora-rank", cli.lora_rank),
        ("--lora-embedding-rank", cli.lora_embedding_rank),
    ];
    for (flag, rank) in ranks {
        match rank {
            Some(_) if cli.init.is_none() => {
                bail!("{flag} needs --init: LoRA finetunes the weights of a checkpoint")
            }
            Some(0) => bail!("{flag} 0: the rank must be at least 1"),
            _ => {}
        }
    }
    if let Some(alpha) = cli.lora_alpha {
        if cli.lora_rank.is_none() && cli.lora_embedding_rank.is_none() {
            bail!("--lora-alpha needs --lora-rank or --lora-embedding-rank");
        }
        if !(alpha > 0.0 && alpha.is_finite()) {
            bail!("--lora-alpha {alpha}: must be a positive number");
        }
    }
    Ok(())
}

/// The run's LoRA settings, if any flag asks for LoRA: ranks checked against the model, and
/// the base fingerprinted.
pub fn from_flags(cli: &Cli, model: &ModelConfig) -> Result<Option<LoraRun>> {
    check_flags(cli)?;
    let (Some(base), true) = (
        &cli.init,
        cli.lora_rank.is_some() || cli.lora_embedding_rank.is_some(),
    ) else {
        return Ok(None);
    };
    let (d, vocab) = (model.hidden_size, model.vocab());
    if let Some(rank) = cli.lora_rank.filter(|&r| r > d) {
        bail!(
            "--lora-rank {rank} is larger than the model's hidden size {d} (the query and value \
             projections are {d} × {d})"
        );
    }
    if let Some(rank) = cli.lora_embedding_rank.filter(|&r| r > d.min(vocab)) {
        bail!(
            "--lora-embedding-rank {rank} is larger than {}, the largest rank of the {vocab} × {d} \
             embedding",
            d.min(vocab)
        );
    }
    Ok(Some(LoraRun {
        adapters: LoraConfig {
            rank: cli.lora_rank,
            embedding_rank: cli.lora_embedding_rank,
            alpha: cli.lora_alpha,
        },
        base: base.clone(),
        base_fingerprint: fingerprint(&base.join(MODEL_FILE))?,
    }))
}

/// `<bytes>-<FNV-1a 64 in hex>` of a file: enough to notice a base that was retrained or
/// replaced, with no dependency.
fn fingerprint(path: &Path) -> Result<String> {
    crate::inputs::file_fingerprint(path)
}

/// The weights a session holds: the model's (all trained, or the frozen base) and the adapters
/// of a LoRA run.
pub struct Weights {
    pub params: Params,
    pub lora: Option<Lora>,
}

impl Weights {
    /// What the optimizer updates.
    pub fn trainable(&self) -> &Params {
        match &self.lora {
            Some(lora) => &lora.params,
            None => &self.params,
        }
    }

    pub fn model(&self, config: &ModelConfig, track_gradients: bool) -> Result<Llama> {
        let kernels = Kernels::for_device(self.params.device());
        Ok(match &self.lora {
            Some(lora) => Llama::with_lora(config, &self.params, lora, track_gradients, kernels)?,
            None => Llama::with_kernels(config, &self.params, track_gradients, kernels)?,
        })
    }

    /// Writes the model (merged, for LoRA) and the optimizer state (and adapters) into `dir`.
    pub fn save(
        &self,
        dir: &Path,
        config: &ModelConfig,
        optimizer: &AdamW,
    ) -> factlab_model::Result<()> {
        match &self.lora {
            Some(lora) => {
                checkpoint::save_model(dir, config, &lora.merge(&self.params)?)?;
                lora.save(&dir.join(ADAPTERS_FILE))?;
                optimizer.save(&lora.params, &dir.join(ADAPTER_OPTIMIZER_FILE))?;
            }
            None => {
                checkpoint::save_model(dir, config, &self.params)?;
                optimizer.save(&self.params, &dir.join(OPTIMIZER_FILE))?;
            }
        }
        Ok(())
    }
}

/// Fresh adapters over `base` (the `--init` checkpoint's weights); their moments start at zero
/// whatever `--reset-optimizer` says, as the checkpoint has none for them.
pub fn start(
    run: &LoraRun,
    model: &ModelConfig,
    base: Params,
    seed: u64,
    optimizer: &factlab_model::AdamWConfig,
) -> Result<(Weights, AdamW)> {
    let lora = Lora::init(&run.adapters, model, seed, base.device())?;
    let optimizer = AdamW::new(optimizer.clone(), &lora.params)?;
    Ok((
        Weights {
            params: base,
            lora: Some(lora),
        },
        optimizer,
    ))
}

/// The base and the adapters of a LoRA run's `checkpoint`, with their optimizer.
pub fn resume(
    run: &LoraRun,
    checkpoint: &Path,
    optimizer: &factlab_model::AdamWConfig,
    optimizer_step: u64,
    device: &Device,
) -> Result<(Weights, AdamW)> {
    let found = fingerprint(&run.base.join(MODEL_FILE))?;
    if found != run.base_fingerprint {
        // A changed input like changed shards: exit status 3, on which pipelines start afresh.
        return Err(anyhow::Error::new(InputsChanged(format!(
            "{}: the base checkpoint changed since this LoRA run started (fingerprint {found}, \
             was {}); the adapters in {} apply to the weights it had then",
            run.base.display(),
            run.base_fingerprint,
            checkpoint.display()
        ))));
    }
    let (model, params) = checkpoint::load_model(&run.base, device)?;
    let lora = Lora::load(
        &run.adapters,
        &model,
        &checkpoint.join(ADAPTERS_FILE),
        device,
    )?;
    let optimizer = AdamW::load(
        optimizer.clone(),
        optimizer_step,
        &lora.params,
        &checkpoint.join(ADAPTER_OPTIMIZER_FILE),
        device,
    )?;
    Ok((
        Weights {
            params,
            lora: Some(lora),
        },
        optimizer,
    ))
}
