//! AdamW (decoupled weight decay, as PyTorch's `torch.optim.AdamW`) whose moments are plain
//! tensors, so a checkpoint can store them and a resumed run continues bit for bit.

use std::path::Path;
use std::sync::Mutex;

use candle_core::{CpuStorage, Device, InplaceOp2, Layout, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::kernels::Kernels;
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
    moments: Moments,
}

/// First and second moments of every parameter, in parameter order.
enum Moments {
    /// On the CPU: plain buffers, updated in place with the weights in one pass.
    Host {
        exp_avg: Vec<Vec<f32>>,
        exp_avg_sq: Vec<Vec<f32>>,
    },
    /// Elsewhere: tensors, updated with candle's tensor ops.
    Device {
        exp_avg: Vec<Tensor>,
        exp_avg_sq: Vec<Tensor>,
    },
}

impl Moments {
    fn from_tensors(
        exp_avg: Vec<Tensor>,
        exp_avg_sq: Vec<Tensor>,
        kernels: Kernels,
    ) -> Result<Self> {
        if kernels == Kernels::Composed {
            return Ok(Moments::Device {
                exp_avg,
                exp_avg_sq,
            });
        }
        let host = |tensors: Vec<Tensor>| -> Result<Vec<Vec<f32>>> {
            tensors
                .iter()
                .map(|t| Ok(t.flatten_all()?.to_vec1::<f32>()?))
                .collect()
        };
        Ok(Moments::Host {
            exp_avg: host(exp_avg)?,
            exp_avg_sq: host(exp_avg_sq)?,
        })
    }

    fn to_tensors(&self, params: &Params) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        match self {
            Moments::Device {
                exp_avg,
                exp_avg_sq,
            } => Ok((exp_avg.clone(), exp_avg_sq.clone())),
            Moments::Host {
                exp_avg,
                exp_avg_sq,
            } => {
                let tensors = |buffers: &[Vec<f32>]| -> Result<Vec<Tensor>> {
                    buffers
                        .iter()
                        .zip(&params.vars)
                        .map(|(b, var)| Ok(Tensor::from_slice(b, var.shape(), var.device())?))
                        .collect()
                };
                Ok((tensors(exp_avg)?, tensors(exp_avg_sq)?))
            }
        }
    }
}

/// The scalars of one update of one parameter.
#[derive(Clone, Copy)]
struct UpdateRule {
    beta1: f32,
    beta2: f32,
    eps: f32,
    correction1: f32,
    correction2: f32,
    lr: f32,
    /// `1 − lr · weight_decay` for this parameter.
    keep: f32,
    /// Applied to the gradient first (global-norm clipping).
    grad_scale: f32,
}

impl AdamW {
    /// Fresh moments; the update runs fused on the CPU and as tensor ops elsewhere.
    pub fn new(config: AdamWConfig, params: &Params) -> Result<Self> {
        Self::with_kernels(config, params, Kernels::for_device(params.device()))
    }

    pub fn with_kernels(config: AdamWConfig, params: &Params, kernels: Kernels) -> Result<Self> {
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
            moments: Moments::from_tensors(zeros()?, zeros()?, kernels)?,
        })
    }

    /// One update of every parameter with `grads` (in parameter order) multiplied by
    /// `grad_scale`, at learning rate `lr`.
    pub fn update(
        &mut self,
        params: &Params,
        grads: &[Tensor],
        grad_scale: f64,
        lr: f64,
    ) -> Result<()> {
        self.step += 1;
        let c = &self.config;
        let rule = |role: &Role| {
            let decay = match role {
                Role::Matrix => c.weight_decay,
                Role::Embedding if c.decay_embeddings => c.weight_decay,
                Role::Embedding | Role::Norm => 0.0,
            };
            UpdateRule {
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                eps: c.eps as f32,
                correction1: (1.0 - c.beta1.powi(self.step as i32)) as f32,
                correction2: (1.0 - c.beta2.powi(self.step as i32)) as f32,
                lr: lr as f32,
                keep: (1.0 - lr * decay) as f32,
                grad_scale: grad_scale as f32,
            }
        };
        let each = params.vars.iter().zip(&params.roles).zip(grads);
        match &mut self.moments {
            Moments::Host {
                exp_avg,
                exp_avg_sq,
            } => {
                for (((var, role), g), (m, v)) in each.zip(exp_avg.iter_mut().zip(exp_avg_sq)) {
                    let op = FusedStep {
                        rule: rule(role),
                        moments: Mutex::new((m.as_mut_slice(), v.as_mut_slice())),
                    };
                    var.as_tensor().inplace_op2(&g.contiguous()?, &op)?;
                }
            }
            Moments::Device {
                exp_avg,
                exp_avg_sq,
            } => {
                for (((var, role), g), (m, v)) in each.zip(exp_avg.iter_mut().zip(exp_avg_sq)) {
                    let r = rule(role);
                    let g = (g * f64::from(r.grad_scale))?;
                    *m = ((&*m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
                    *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
                    let denominator = ((&*v / f64::from(r.correction2))?.sqrt()? + c.eps)?;
                    let step = ((&*m / f64::from(r.correction1))? / denominator)?;
                    let decayed = (var.as_tensor() * f64::from(r.keep))?;
                    var.set(&(decayed - (step * lr)?)?)?;
                }
            }
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
        let (exp_avg, exp_avg_sq) = self.moments.to_tensors(params)?;
        let mut all = named("exp_avg", &exp_avg);
        all.extend(named("exp_avg_sq", &exp_avg_sq));
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
            moments: Moments::from_tensors(exp_avg, exp_avg_sq, Kernels::for_device(device))?,
        })
    }
}

/// AdamW on one parameter in one pass: reads the gradient, updates both moments and the
/// weights in place. Elements are independent, so the blocks may run in any order.
struct FusedStep<'a> {
    rule: UpdateRule,
    moments: Mutex<(&'a mut [f32], &'a mut [f32])>,
}

impl InplaceOp2 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        weights: &mut CpuStorage,
        wl: &Layout,
        grads: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(w), CpuStorage::F32(g)) = (weights, grads) else {
            candle_core::bail!("fused-adamw: expected f32 weights and gradients");
        };
        let (Some((w0, w1)), Some((g0, g1))) = (wl.contiguous_offsets(), gl.contiguous_offsets())
        else {
            candle_core::bail!("fused-adamw: weights and gradients must be contiguous");
        };
        let (w, g) = (&mut w[w0..w1], &g[g0..g1]);
        let mut moments = self.moments.lock().expect("not poisoned");
        let (m, v) = &mut *moments;
        if w.len() != g.len() || w.len() != m.len() || w.len() != v.len() {
            candle_core::bail!("fused-adamw: buffer sizes differ");
        }
        let r = self.rule;
        const BLOCK: usize = 1 << 12;
        w.par_chunks_mut(BLOCK)
            .zip(g.par_chunks(BLOCK))
            .zip(m.par_chunks_mut(BLOCK))
            .zip(v.par_chunks_mut(BLOCK))
            .for_each(|(((w, g), m), v)| {
                for (((w, g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                    let g = g * r.grad_scale;
                    *m = *m * r.beta1 + g * (1.0 - r.beta1);
                    *v = *v * r.beta2 + g * g * (1.0 - r.beta2);
                    let step = (*m / r.correction1) / ((*v / r.correction2).sqrt() + r.eps);
                    *w = *w * r.keep - step * r.lr;
                }
            });
        Ok(())
    }
}

/// The L2 norm of all `tensors` together (for gradient clipping): f64 sums over fixed blocks,
/// added in order, so the value does not depend on the thread count.
pub fn global_norm(tensors: &[Tensor]) -> Result<f64> {
    let mut squares = 0.0;
    for t in tensors {
        if t.device().is_cpu() {
            let t = t.contiguous()?;
            let (storage, layout) = t.storage_and_layout();
            let candle_core::Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
                return Err(crate::ModelError::Other("gradient is not f32".into()));
            };
            let (start, end) = layout.contiguous_offsets().expect("made contiguous above");
            squares += crate::kernels::sum_of_squares(&data[start..end]);
        } else {
            squares += f64::from(t.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    Ok(squares.sqrt())
}
