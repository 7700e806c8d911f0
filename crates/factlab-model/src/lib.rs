//! The factlab language model: a small Llama-family decoder in candle, with everything `train`
//! and `probe` share — config, seeded initialisation, a forward pass that can return every
//! layer's hidden states, AdamW with saveable moments, Hugging Face compatible checkpoints and
//! probe scoring.

pub mod checkpoint;
pub mod composed;
mod config;
mod error;
pub mod kernels;
mod model;
mod optim;
mod params;
mod scoring;

pub use composed::{cross_entropy, log_softmax, softmax};
pub use config::{HfLlamaConfig, ModelConfig};
pub use error::{ModelError, Result};
pub use kernels::Kernels;
pub use model::{ids_tensor, Llama};
pub use optim::{global_norm, AdamW, AdamWConfig};
pub use params::{
    load_tensors, parameter_layout, parameter_specs, save_tensors, BlockParams, ModelParams,
    ParamSpec, Params, Role,
};
pub use scoring::{encode_probes, score_probes, EncodedProbe, ProbeScore};

/// `cpu`, or `cuda` / `cuda:N` (needs the binary built with the `cuda` feature).
pub fn device(name: &str) -> Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        _ => {
            let ordinal = match name.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| ModelError::Other(format!("bad device `{name}`")))?,
                None => {
                    return Err(ModelError::Other(format!(
                        "unknown device `{name}`; expected cpu, cuda or cuda:N"
                    )))
                }
            };
            candle_core::Device::new_cuda(ordinal)
                .map_err(ModelError::candle(format!("opening device {name}")))
        }
    }
}
