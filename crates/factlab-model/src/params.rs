//! The model's parameters by their Hugging Face Llama names, seeded initialisation, and
//! `model.safetensors` in and out.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use factlab_rng::Rng;

use crate::{ModelConfig, ModelError, Result};

/// How a parameter starts and whether weight decay applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Matrix,
    Embedding,
    Norm,
}

pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: Role,
}

/// Every parameter in a fixed order (the order of initialisation and of the optimizer state).
pub fn parameter_specs(config: &ModelConfig) -> Vec<ParamSpec> {
    let (d, f, v) = (config.hidden_size, config.intermediate_size, config.vocab());
    let spec = |name: String, shape: Vec<usize>, role| ParamSpec { name, shape, role };
    let mut specs = vec![spec(
        "model.embed_tokens.weight".into(),
        vec![v, d],
        Role::Embedding,
    )];
    for i in 0..config.num_layers {
        let p = format!("model.layers.{i}");
        specs.push(spec(
            format!("{p}.input_layernorm.weight"),
            vec![d],
            Role::Norm,
        ));
        for proj in ["q", "k", "v", "o"] {
            specs.push(spec(
                format!("{p}.self_attn.{proj}_proj.weight"),
                vec![d, d],
                Role::Matrix,
            ));
        }
        specs.push(spec(
            format!("{p}.post_attention_layernorm.weight"),
            vec![d],
            Role::Norm,
        ));
        for proj in ["gate", "up"] {
            specs.push(spec(
                format!("{p}.mlp.{proj}_proj.weight"),
                vec![f, d],
                Role::Matrix,
            ));
        }
        specs.push(spec(
            format!("{p}.mlp.down_proj.weight"),
            vec![d, f],
            Role::Matrix,
        ));
    }
    specs.push(spec("model.norm.weight".into(), vec![d], Role::Norm));
    if !config.tie_word_embeddings {
        specs.push(spec("lm_head.weight".into(), vec![v, d], Role::Embedding));
    }
    specs
}

/// Trainable variables, in [`parameter_specs`] order.
pub struct Params {
    pub names: Vec<String>,
    pub roles: Vec<Role>,
    pub vars: Vec<Var>,
}

impl Params {
    /// Normal(0, initializer_range) matrices and unit norms; parameter `i` draws from its own
    /// stream `Rng::derive(seed, [i])`, so a size change elsewhere leaves it unchanged.
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let specs = parameter_specs(config);
        let mut vars = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let n: usize = spec.shape.iter().product();
            let values: Vec<f32> = match spec.role {
                Role::Norm => vec![1.0; n],
                Role::Matrix | Role::Embedding => {
                    let mut rng = Rng::derive(seed, &[i as u64]);
                    (0..n)
                        .map(|_| (rng.normal() * config.initializer_range) as f32)
                        .collect()
                }
            };
            let tensor = Tensor::from_vec(values, spec.shape.as_slice(), device)?;
            vars.push(Var::from_tensor(&tensor)?);
        }
        Ok(Self::from_specs(specs, vars))
    }

    fn from_specs(specs: Vec<ParamSpec>, vars: Vec<Var>) -> Self {
        Params {
            names: specs.iter().map(|s| s.name.clone()).collect(),
            roles: specs.iter().map(|s| s.role).collect(),
            vars,
        }
    }

    pub fn get(&self, name: &str) -> &Tensor {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        self.vars[i].as_tensor()
    }

    /// The gradient of every parameter, zeros where the loss does not depend on one.
    pub fn gradients(&self, grads: &GradStore) -> Result<Vec<Tensor>> {
        self.vars
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => Ok(v.as_tensor().zeros_like()?),
            })
            .collect()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        save_tensors(
            path,
            self.names
                .iter()
                .cloned()
                .zip(self.vars.iter().map(|v| v.as_tensor().clone())),
        )
    }

    /// Loads `model.safetensors`, checking that it holds exactly the parameters of `config`.
    pub fn load(config: &ModelConfig, path: &Path, device: &Device) -> Result<Self> {
        let mut tensors = load_tensors(path, device)?;
        let specs = parameter_specs(config);
        let mut vars = Vec::with_capacity(specs.len());
        for spec in &specs {
            let tensor = tensors.remove(&spec.name).ok_or_else(|| {
                ModelError::invalid(path, format!("missing tensor {}", spec.name))
            })?;
            if tensor.dims() != spec.shape.as_slice() || tensor.dtype() != DType::F32 {
                return Err(ModelError::invalid(
                    path,
                    format!(
                        "tensor {} is {:?} {:?}; expected f32 {:?}",
                        spec.name,
                        tensor.dtype(),
                        tensor.dims(),
                        spec.shape
                    ),
                ));
            }
            vars.push(Var::from_tensor(&tensor)?);
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(ModelError::invalid(
                path,
                format!("unexpected tensor {extra} for this config"),
            ));
        }
        Ok(Self::from_specs(specs, vars))
    }
}

/// Writes named tensors as safetensors (the format sorts them, so the bytes are reproducible).
pub fn save_tensors(path: &Path, tensors: impl Iterator<Item = (String, Tensor)>) -> Result<()> {
    let map: HashMap<String, Tensor> = tensors.collect();
    candle_core::safetensors::save(&map, path)
        .map_err(ModelError::candle(format!("writing {}", path.display())))
}

pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, device)
        .map_err(ModelError::candle(format!("reading {}", path.display())))
}
