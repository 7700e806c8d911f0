//! LoRA (Hu et al. 2021) as Physics of LMs 3.1 finetunes with it (App. D): a rank-r update of
//! every block's query and value projections and a rank-r′ update of the embedding, the base
//! weights frozen. Each adapted weight `W (out, in)` is used as `W + scale · B · A`, with
//! `A (rank, in)` drawn from the project's seeded generator and `B (out, rank)` zero, so that a
//! fresh adapter leaves the model exactly as it was. With tied embeddings the output layer is
//! the embedding, so it sees the same update.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use factlab_rng::Rng;
use serde::{Deserialize, Serialize};

use crate::params::{load_tensors, parameter_layout, Role};
use crate::{ModelConfig, ModelError, Params, Result};

/// Keeps the adapters' random streams apart from the model's (`Rng::derive(seed, [i])`).
const STREAM: u64 = 0x4c6f_5241;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of the query and value projections' updates; `None`: they are not adapted.
    pub rank: Option<usize>,
    /// Rank of the embedding's update; `None`: it is not adapted.
    pub embedding_rank: Option<usize>,
    /// Each update is scaled by `alpha / its rank`; `None` scales every update by 1, as
    /// `alpha = rank` would, so the learning rate means the same at any rank.
    pub alpha: Option<f64>,
}

impl LoraConfig {
    pub fn scale(&self, rank: usize) -> f64 {
        self.alpha.map_or(1.0, |alpha| alpha / rank as f64)
    }

    /// The adapted weights of `model`: name, shape `(out, in)` and rank, in parameter order.
    fn targets(&self, model: &ModelConfig) -> Vec<(String, [usize; 2], usize)> {
        let (specs, layout) = parameter_layout(model);
        let mut indices = Vec::new();
        if let Some(rank) = self.embedding_rank {
            indices.push((layout.embed, rank));
        }
        if let Some(rank) = self.rank {
            for block in &layout.blocks {
                indices.extend([(block.q, rank), (block.v, rank)]);
            }
        }
        indices
            .into_iter()
            .map(|(i, rank)| {
                let shape = [specs[i].shape[0], specs[i].shape[1]];
                (specs[i].name.clone(), shape, rank)
            })
            .collect()
    }
}

/// `scale · B · A`, the update of one weight, as the model uses it.
pub(crate) struct LowRank {
    a: Tensor,
    b: Tensor,
    scale: f64,
}

impl LowRank {
    /// `base + scale · B · A`: differentiable in `A` and `B`. Training, scoring and merging
    /// all call this, so a merged checkpoint holds exactly the weights the run used.
    pub(crate) fn apply(&self, base: &Tensor) -> Result<Tensor> {
        let mut update = self.b.matmul(&self.a)?;
        if self.scale != 1.0 {
            update = (update * self.scale)?;
        }
        Ok((base + update)?)
    }
}

/// One adapted weight: the indices of its `A` and `B` among the adapter variables.
struct Target {
    weight: String,
    a: usize,
    b: usize,
    scale: f64,
}

/// The adapters of a model: their variables (what trains, with their own optimizer state) and
/// the weights they adapt.
pub struct Lora {
    pub config: LoraConfig,
    /// `<weight>.lora_A.weight` and `<weight>.lora_B.weight` (PEFT's names) of every adapted
    /// weight, A before B, in the model's parameter order.
    pub params: Params,
    targets: Vec<Target>,
}

/// `model.layers.0.self_attn.q_proj.weight` → `model.layers.0.self_attn.q_proj.lora_A.weight`.
fn adapter_name(weight: &str, part: &str) -> String {
    let stem = weight.strip_suffix(".weight").unwrap_or(weight);
    format!("{stem}.lora_{part}.weight")
}

impl Lora {
    /// Fresh adapters: `B = 0`, and `A` uniform in `±1/√in` (the bound of PEFT's default
    /// Kaiming initialisation), each from its own stream of `seed`.
    pub fn init(
        config: &LoraConfig,
        model: &ModelConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        Self::build(config, model, |index, name, shape| {
            let values: Vec<f32> = if name.ends_with("lora_B.weight") {
                vec![0.0; shape[0] * shape[1]]
            } else {
                let bound = 1.0 / (shape[1] as f64).sqrt();
                let mut rng = Rng::derive(seed, &[STREAM, index as u64]);
                (0..shape[0] * shape[1])
                    .map(|_| ((2.0 * rng.unit_f64() - 1.0) * bound) as f32)
                    .collect()
            };
            Ok(Tensor::from_vec(values, shape.as_slice(), device)?)
        })
    }

    /// Adapters written by [`Lora::save`], checked against `config` and `model`.
    pub fn load(
        config: &LoraConfig,
        model: &ModelConfig,
        path: &Path,
        device: &Device,
    ) -> Result<Self> {
        let mut tensors = load_tensors(path, device)?;
        let lora = Self::build(config, model, |_, name, shape| {
            let tensor = tensors
                .remove(name)
                .ok_or_else(|| ModelError::invalid(path, format!("missing tensor {name}")))?;
            if tensor.dims() != shape.as_slice() || tensor.dtype() != DType::F32 {
                return Err(ModelError::invalid(
                    path,
                    format!(
                        "tensor {name} is {:?} {:?}; expected f32 {shape:?}",
                        tensor.dtype(),
                        tensor.dims()
                    ),
                ));
            }
            Ok(tensor)
        })?;
        if let Some(extra) = tensors.keys().min() {
            return Err(ModelError::invalid(
                path,
                format!("unexpected tensor {extra} for these adapters"),
            ));
        }
        Ok(lora)
    }

    /// `make(index, name, shape)` gives each adapter variable its values.
    fn build(
        config: &LoraConfig,
        model: &ModelConfig,
        mut make: impl FnMut(usize, &str, [usize; 2]) -> Result<Tensor>,
    ) -> Result<Self> {
        let (mut names, mut vars, mut targets) = (Vec::new(), Vec::new(), Vec::new());
        for (weight, [out, input], rank) in config.targets(model) {
            for (part, shape) in [("A", [rank, input]), ("B", [out, rank])] {
                let name = adapter_name(&weight, part);
                vars.push(Var::from_tensor(&make(names.len(), &name, shape)?)?);
                names.push(name);
            }
            let b = names.len() - 1;
            targets.push(Target {
                weight,
                a: b - 1,
                b,
                scale: config.scale(rank),
            });
        }
        if vars.is_empty() {
            return Err(ModelError::Other(
                "LoRA without a rank adapts nothing".into(),
            ));
        }
        // Adapters decay like matrices whatever the embedding's setting: the decay pulls the
        // update towards zero, i.e. the finetuned model towards the pretrained one.
        let roles = vec![Role::Matrix; vars.len()];
        Ok(Lora {
            config: config.clone(),
            params: Params::from_vars(names, roles, vars),
            targets,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.params.save(path)
    }

    /// The update of the weight named `weight`, if it is adapted. With `track_gradients` false
    /// the adapters are detached views: no graph, yet every optimizer update is seen.
    pub(crate) fn update_of(&self, weight: &str, track_gradients: bool) -> Option<LowRank> {
        let target = self.targets.iter().find(|t| t.weight == weight)?;
        let tensor = |i: usize| {
            let t = self.params.vars[i].as_tensor();
            if track_gradients {
                t.clone()
            } else {
                t.detach()
            }
        };
        Some(LowRank {
            a: tensor(target.a),
            b: tensor(target.b),
            scale: target.scale,
        })
    }

    /// The model with every update added in: what the run's model computes, loadable by anything
    /// that loads a plain checkpoint. `base` is left untouched.
    pub fn merge(&self, base: &Params) -> Result<Params> {
        base.map_tensors(|name, tensor| match self.update_of(name, false) {
            Some(update) => update.apply(&tensor.detach()),
            None => Ok(tensor.detach()),
        })
    }
}
