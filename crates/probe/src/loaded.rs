//! A checkpoint and its tokenizer, loaded for reading only and checked against each other.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use candle_core::Device;
use factlab_model::checkpoint::{self, CONFIG_FILE, LATEST_FILE};
use factlab_model::{Llama, ModelConfig};
use tokenizers::Tokenizer;

/// The token that joins documents in the shards `inject` writes.
pub const END_OF_TEXT: &str = "<|endoftext|>";

pub struct LoadedModel {
    /// The checkpoint folder the model came from (a run folder resolved to its latest).
    pub folder: PathBuf,
    pub config: ModelConfig,
    pub model: Llama,
    pub tokenizer: Tokenizer,
    /// Precedes every input, as it precedes every document in the shards.
    pub end_of_text: u32,
    pub device: Device,
}

/// Where a subcommand's model comes from, and how many inputs go through it at once.
#[derive(Clone, Debug)]
pub struct ModelSource {
    pub checkpoint: std::path::PathBuf,
    pub tokenizer: std::path::PathBuf,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Inputs per forward pass.
    pub batch_size: usize,
}

impl LoadedModel {
    /// `checkpoint` is a checkpoint folder (`…/checkpoints/step-NNNNNN`), a `checkpoints/`
    /// folder or a run folder; the last two mean their latest checkpoint. `device` is `cpu`,
    /// `cuda` or `cuda:N`.
    pub fn load(checkpoint: &Path, tokenizer: &Path, device: &str) -> Result<Self> {
        let folder = resolve_checkpoint(checkpoint)?;
        let device = factlab_model::device(device)?;
        let (config, params) = checkpoint::load_model(&folder, &device)?;
        let model = Llama::new(&config, &params, false)?;
        let tokenizer_file = tokenizer;
        let tokenizer = Tokenizer::from_file(tokenizer_file).map_err(|e| {
            anyhow!(
                "{}: cannot load the tokenizer: {e}; expected a Hugging Face tokenizer.json \
                 (inject writes one as OUT/tokenizer.json)",
                tokenizer_file.display()
            )
        })?;
        let config_file = folder.join(CONFIG_FILE);
        let tokens = tokenizer.get_vocab_size(true);
        if tokens != config.vocab() {
            bail!(
                "{}: the tokenizer has {tokens} tokens, but {} says vocab_size {}; expected the \
                 tokenizer the model was trained with",
                tokenizer_file.display(),
                config_file.display(),
                config.vocab()
            );
        }
        let end_of_text = match (config.eos_token_id, tokenizer.token_to_id(END_OF_TEXT)) {
            (Some(model), Some(text)) if model != text => bail!(
                "{}: `{END_OF_TEXT}` is token {text}, but {} says eos_token_id {model}; expected \
                 the tokenizer the model was trained with",
                tokenizer_file.display(),
                config_file.display()
            ),
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => bail!(
                "{}: the tokenizer has no `{END_OF_TEXT}` token and {} no eos_token_id; expected \
                 one of them, to start every input as training documents start",
                tokenizer_file.display(),
                config_file.display()
            ),
        };
        tracing::info!(
            "loaded {} ({} layers, hidden size {}, vocabulary {})",
            folder.display(),
            config.num_layers,
            config.hidden_size,
            config.vocab()
        );
        Ok(LoadedModel {
            folder,
            config,
            model,
            tokenizer,
            end_of_text,
            device,
        })
    }

    /// Token ids of `text`, with no special tokens added; `what` names the text in errors.
    pub fn encode(&self, text: &str, what: &dyn std::fmt::Display) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing {what}: {e}"))?
            .get_ids()
            .to_vec())
    }
}

fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join(CONFIG_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    for parent in [path.to_path_buf(), path.join("checkpoints")] {
        if parent.join(LATEST_FILE).is_file() {
            let latest = checkpoint::latest(&parent)?.expect("the latest file exists");
            return Ok(latest);
        }
    }
    if !path.exists() {
        bail!("{}: no such checkpoint folder", path.display());
    }
    bail!(
        "{}: not a checkpoint: expected {CONFIG_FILE} and model.safetensors (a \
         checkpoints/step-NNNNNN folder), or a run folder with checkpoints/{LATEST_FILE}",
        path.display()
    )
}
