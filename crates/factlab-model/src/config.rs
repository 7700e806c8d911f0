//! Model sizes: a TOML preset (`pipelines/models/*.toml`) and the Hugging Face `config.json`
//! written beside every checkpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ModelError, Result};

/// Architecture of the decoder: Llama family (pre-norm RMSNorm, rotary positions on split halves
/// as in Hugging Face, SwiGLU MLP, no biases, as many key/value heads as query heads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Taken from the tokenizer when a preset leaves it out.
    #[serde(default)]
    pub vocab_size: Option<usize>,
    /// Longest sequence the rotary tables cover (the context).
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Tied by default: at these sizes an untied output matrix would hold a large share of all
    /// parameters (OLMo-1B ties them too).
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// Standard deviation of the normal initialisation of every matrix (norms start at 1).
    #[serde(default = "default_init_std")]
    pub initializer_range: f64,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_true() -> bool {
    true
}
fn default_init_std() -> f64 {
    0.02
}

impl ModelConfig {
    pub fn load_toml(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let config: ModelConfig =
            toml::from_str(&text).map_err(|e| ModelError::invalid(path, e.to_string()))?;
        config.check().map_err(|m| ModelError::invalid(path, m))?;
        Ok(config)
    }

    /// The vocabulary size; a config used to build a model has it filled in.
    pub fn vocab(&self) -> usize {
        self.vocab_size
            .expect("vocab_size is resolved before a model is built")
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    pub fn check(&self) -> std::result::Result<(), String> {
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_heads {}",
                self.hidden_size, self.num_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!("head dimension {} must be even", self.head_dim()));
        }
        if self.vocab_size == Some(0) || self.max_position_embeddings == 0 {
            return Err("vocab_size and max_position_embeddings must be positive".into());
        }
        Ok(())
    }

    /// Parameters in the model (tied output counted once).
    pub fn parameter_count(&self) -> usize {
        crate::params::parameter_specs(self)
            .iter()
            .map(|s| s.shape.iter().product::<usize>())
            .sum()
    }

    pub fn to_hf(&self) -> HfLlamaConfig {
        HfLlamaConfig {
            architectures: vec!["LlamaForCausalLM".into()],
            model_type: "llama".into(),
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_layers,
            num_attention_heads: self.num_heads,
            num_key_value_heads: self.num_heads,
            head_dim: self.head_dim(),
            vocab_size: self.vocab(),
            max_position_embeddings: self.max_position_embeddings,
            rms_norm_eps: self.rms_norm_eps,
            rope_theta: self.rope_theta,
            tie_word_embeddings: self.tie_word_embeddings,
            initializer_range: self.initializer_range,
            hidden_act: "silu".into(),
            attention_bias: false,
            mlp_bias: false,
            torch_dtype: "float32".into(),
            bos_token_id: self.bos_token_id,
            eos_token_id: self.eos_token_id,
        }
    }

    pub fn from_hf(hf: &HfLlamaConfig, origin: &Path) -> Result<Self> {
        let unsupported = |what: String| ModelError::invalid(origin, what);
        if hf.num_key_value_heads != hf.num_attention_heads {
            return Err(unsupported(
                "grouped-query attention (num_key_value_heads != num_attention_heads) is not supported".into(),
            ));
        }
        if hf.hidden_act != "silu" || hf.attention_bias || hf.mlp_bias {
            return Err(unsupported(
                "only silu activations without biases are supported".into(),
            ));
        }
        let config = ModelConfig {
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            num_layers: hf.num_hidden_layers,
            num_heads: hf.num_attention_heads,
            vocab_size: Some(hf.vocab_size),
            max_position_embeddings: hf.max_position_embeddings,
            rms_norm_eps: hf.rms_norm_eps,
            rope_theta: hf.rope_theta,
            tie_word_embeddings: hf.tie_word_embeddings,
            initializer_range: hf.initializer_range,
            bos_token_id: hf.bos_token_id,
            eos_token_id: hf.eos_token_id,
        };
        config.check().map_err(unsupported)?;
        if config.head_dim() != hf.head_dim {
            return Err(unsupported(format!(
                "head_dim {} differs from hidden_size / num_attention_heads",
                hf.head_dim
            )));
        }
        Ok(config)
    }
}

/// The fields of `transformers.LlamaConfig` that describe this architecture; unknown fields
/// (such as `transformers_version`) are ignored on read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HfLlamaConfig {
    pub architectures: Vec<String>,
    pub model_type: String,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
    pub initializer_range: f64,
    pub hidden_act: String,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub torch_dtype: String,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
}
