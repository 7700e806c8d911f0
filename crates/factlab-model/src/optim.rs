//! AdamW (decoupled weight decay, as PyTorch's `torch.optim.AdamW`) whose moments are plain
//! tensors, so a checkpoint can store them and a resumed run continues bit for bit.

use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::params::{load_tensors, save_tensors, Role};
use crate::{ModelError, Params, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Whether the embedding (and an untied output matrix) decays. RMSNorm gains never do:
    /// decay would pull them towards zero rather than their natural value of one.
    pub decay_embeddings: bool,
}

impl Default for AdamWConfig {
    /// OLMo's pretraining values (Chang et al. 2024 §3).
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            decay_embeddings: true,
        }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates applied so far (for bias correction).
    pub step: u64,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
}

impl AdamW {
    pub fn new(config: AdamWConfig, params: &Params) -> Result<Self> {
        let zeros = || -> Result<Vec<Tensor>> {
            params
                .vars
                .iter()
                .map(|v| Ok(v.as_tensor().zeros_like()?))
                .collect()
        };
        Ok(AdamW {
            config,
            step: 0,
            exp_avg: zeros()?,
            exp_avg_sq: zeros()?,
        })
    }

    /// One update of every parameter with `grads` (in parameter order) at learning rate `lr`.
    pub fn update(&mut self, params: &Params, grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let c = &self.config;
        let correction1 = 1.0 - c.beta1.powi(self.step as i32);
        let correction2 = 1.0 - c.beta2.powi(self.step as i32);
        let moments = self.exp_avg.iter_mut().zip(self.exp_avg_sq.iter_mut());
        for (((var, role), g), (exp_avg, exp_avg_sq)) in params
            .vars
            .iter()
            .zip(&params.roles)
            .zip(grads)
            .zip(moments)
        {
            let m = ((&*exp_avg * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((&*exp_avg_sq * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denominator = ((&v / correction2)?.sqrt()? + c.eps)?;
            let step = ((&m / correction1)? / denominator)?;
            let decay = match role {
                Role::Matrix => c.weight_decay,
                Role::Embedding if c.decay_embeddings => c.weight_decay,
                Role::Embedding | Role::Norm => 0.0,
            };
            var.set(&((var.as_tensor() * (1.0 - lr * decay))? - (step * lr)?)?)?;
            *exp_avg = m;
            *exp_avg_sq = v;
        }
        Ok(())
    }

    /// Writes the moments as `exp_avg.<param>` / `exp_avg_sq.<param>` (PyTorch's names).
    pub fn save(&self, params: &Params, path: &Path) -> Result<()> {
        let named = |prefix: &'static str, tensors: &[Tensor]| {
            params
                .names
                .iter()
                .zip(tensors.to_vec())
                .map(move |(n, t)| (format!("{prefix}.{n}"), t))
                .collect::<Vec<_>>()
        };
        let mut all = named("exp_avg", &self.exp_avg);
        all.extend(named("exp_avg_sq", &self.exp_avg_sq));
        save_tensors(path, all.into_iter())
    }

    /// Restores moments written by [`AdamW::save`]; `step` comes from the checkpoint's state.
    pub fn load(
        config: AdamWConfig,
        step: u64,
        params: &Params,
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        let mut tensors = load_tensors(path, device)?;
        let mut take = |prefix: &str| -> Result<Vec<Tensor>> {
            params
                .names
                .iter()
                .zip(&params.vars)
                .map(|(n, var)| {
                    let key = format!("{prefix}.{n}");
                    let t = tensors.remove(&key).ok_or_else(|| {
                        ModelError::invalid(path, format!("missing tensor {key}"))
                    })?;
                    if t.dims() != var.as_tensor().dims() {
                        return Err(ModelError::invalid(
                            path,
                            format!("tensor {key} has shape {:?}", t.dims()),
                        ));
                    }
                    Ok(t)
                })
                .collect()
        };
        let exp_avg = take("exp_avg")?;
        let exp_avg_sq = take("exp_avg_sq")?;
        Ok(AdamW {
            config,
            step,
            exp_avg,
            exp_avg_sq,
        })
    }
}
