//! The factlab language model: a small Llama-family decoder in candle, with everything `train`
//! and `probe` share — config, seeded initialisation, a forward pass that can return every
//! layer's hidden states, AdamW with saveable moments, LoRA adapters, Hugging Face compatible checkpoints,
//! scoring of targets by log-probability and greedy generation.

pub mod checkpoint;
pub mod composed;
mod config;
mod error;
mod generation;
pub mod kernels;
mod lora;
mod model;
mod optim;
mod params;
mod scoring;

pub use config::{HfLlamaConfig, ModelConfig};
pub use error::{ModelError, Result};
pub use generation::{greedy_generate, GreedySettings};
pub use kernels::Kernels;
pub use lora::{Lora, LoraConfig};
pub use model::{ids_tensor, Llama};
pub use optim::{global_norm, AdamW, AdamWConfig};
pub use params::{
    load_tensors, parameter_specs, save_tensors, BlockParams, ModelParams, ParamSpec, Params, Role,
};
pub use scoring::{
    add_foils, encode_continuation, encode_probes, score_probes, target_logprobs, Continuation,
    EncodedProbe, ProbeScore, TargetScore,
};

/// Settings of the process that make CPU training markedly faster; call it first thing, before
/// any tensor exists. Measured on the tiny model (`docs/performance.md`): about 1.4× together.
/// - glibc returns freed memory above 128 KiB to the system and maps large blocks afresh, so
///   every step's activations page-fault and are zeroed by the kernel again; a high trim
///   threshold and the largest mmap threshold keep that memory in the process.
/// - candle's element-wise thread pool spins 25,000 times before it sleeps, and on a machine
///   whose cores also run rayon's pool (the kernels, the matrix products) that spinning takes
///   cycles from the work. `CANDLE_BARRIER_POOL_SPIN_LIMIT`, when the user has not set it, is
///   set to 0.
pub fn prepare_cpu_runtime() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // Safety: plain setters of the allocator's parameters; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    const SPIN: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(SPIN).is_none() {
        std::env::set_var(SPIN, "0");
    }
}

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
