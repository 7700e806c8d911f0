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

/// The parameters of one decoder block, by what they do (`T` is an index or a tensor).
#[derive(Clone)]
pub struct BlockParams<T> {
    pub input_norm: T,
    pub q: T,
    pub k: T,
    pub v: T,
    pub o: T,
    pub post_attention_norm: T,
    pub gate: T,
    pub up: T,
    pub down: T,
}

/// The parameters of the whole model, by what they do.
#[derive(Clone)]
pub struct ModelParams<T> {
    pub embed: T,
    pub blocks: Vec<BlockParams<T>>,
    pub norm: T,
    /// `None` when the output layer is the embedding (tied).
    pub lm_head: Option<T>,
}

impl<T> ModelParams<T> {
    pub(crate) fn map<U>(&self, f: impl Fn(&T) -> U) -> ModelParams<U> {
        ModelParams {
            embed: f(&self.embed),
            blocks: self
                .blocks
                .iter()
                .map(|b| BlockParams {
                    input_norm: f(&b.input_norm),
                    q: f(&b.q),
                    k: f(&b.k),
                    v: f(&b.v),
                    o: f(&b.o),
                    post_attention_norm: f(&b.post_attention_norm),
                    gate: f(&b.gate),
                    up: f(&b.up),
                    down: f(&b.down),
                })
                .collect(),
            norm: f(&self.norm),
            lm_head: self.lm_head.as_ref().map(f),
        }
    }
}

/// A dotted parameter path built by prefixes, as candle-nn's `VarBuilder::pp` builds them.
#[derive(Clone)]
struct ParamPath(String);

impl ParamPath {
    fn pp(&self, part: impl std::fmt::Display) -> Self {
        if self.0.is_empty() {
            ParamPath(part.to_string())
        } else {
            ParamPath(format!("{}.{part}", self.0))
        }
    }
}

/// Collects specs in order and hands out their indices.
#[derive(Default)]
struct Layout {
    specs: Vec<ParamSpec>,
}

impl Layout {
    fn add(&mut self, path: ParamPath, shape: Vec<usize>, role: Role) -> usize {
        self.specs.push(ParamSpec {
            name: path.pp("weight").0,
            shape,
            role,
        });
        self.specs.len() - 1
    }
}

/// The one place the parameters are named (Hugging Face Llama names) and ordered (the order of
/// initialisation and of the optimizer state): every spec, and where each sits in the model.
pub(crate) fn parameter_layout(config: &ModelConfig) -> (Vec<ParamSpec>, ModelParams<usize>) {
    let (d, f, v) = (config.hidden_size, config.intermediate_size, config.vocab());
    let mut layout = Layout::default();
    let model = ParamPath(String::new()).pp("model");
    let embed = layout.add(model.pp("embed_tokens"), vec![v, d], Role::Embedding);
    let blocks = (0..config.num_layers)
        .map(|i| {
            let block = model.pp("layers").pp(i);
            let attention = block.pp("self_attn");
            let mlp = block.pp("mlp");
            let (matrix, norm) = (Role::Matrix, Role::Norm);
            // Fields are listed in initialisation order.
            BlockParams {
                input_norm: layout.add(block.pp("input_layernorm"), vec![d], norm),
                q: layout.add(attention.pp("q_proj"), vec![d, d], matrix),
                k: layout.add(attention.pp("k_proj"), vec![d, d], matrix),
                v: layout.add(attention.pp("v_proj"), vec![d, d], matrix),
                o: layout.add(attention.pp("o_proj"), vec![d, d], matrix),
                post_attention_norm: layout.add(
                    block.pp("post_attention_layernorm"),
                    vec![d],
                    norm,
                ),
                gate: layout.add(mlp.pp("gate_proj"), vec![f, d], matrix),
                up: layout.add(mlp.pp("up_proj"), vec![f, d], matrix),
                down: layout.add(mlp.pp("down_proj"), vec![d, f], matrix),
            }
        })
        .collect();
    let norm = layout.add(model.pp("norm"), vec![d], Role::Norm);
    let lm_head = (!config.tie_word_embeddings)
        .then(|| layout.add(ParamPath("lm_head".into()), vec![v, d], Role::Embedding));
    let indices = ModelParams {
        embed,
        blocks,
        norm,
        lm_head,
    };
    (layout.specs, indices)
}

/// Every parameter in a fixed order (the order of initialisation and of the optimizer state).
pub fn parameter_specs(config: &ModelConfig) -> Vec<ParamSpec> {
    parameter_layout(config).0
}

/// Trainable variables: a model's, in [`parameter_specs`] order, or any other named set (the
/// LoRA adapters), which the optimizer treats alike.
pub struct Params {
    pub names: Vec<String>,
    pub roles: Vec<Role>,
    pub vars: Vec<Var>,
    /// Where each model parameter sits; `None` for a set that is not a model.
    layout: Option<ModelParams<usize>>,
}

impl Params {
    /// Normal(0, initializer_range) matrices and unit norms; parameter `i` draws from its own
    /// stream `Rng::derive(seed, [i])`, so a size change elsewhere leaves it unchanged.
    pub fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let (specs, layout) = parameter_layout(config);
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
        Ok(Self::from_specs(specs, layout, vars))
    }

    fn from_specs(specs: Vec<ParamSpec>, layout: ModelParams<usize>, vars: Vec<Var>) -> Self {
        Params {
            names: specs.iter().map(|s| s.name.clone()).collect(),
            roles: specs.iter().map(|s| s.role).collect(),
            vars,
            layout: Some(layout),
        }
    }

    /// A named set of variables that is not a model (for [`crate::Lora`]'s adapters).
    pub(crate) fn from_vars(names: Vec<String>, roles: Vec<Role>, vars: Vec<Var>) -> Self {
        Params {
            names,
            roles,
            vars,
            layout: None,
        }
    }

    /// A model with the same layout whose parameter `name` is `f(name, tensor)` (new variables).
    pub(crate) fn map_tensors(
        &self,
        mut f: impl FnMut(&str, &Tensor) -> Result<Tensor>,
    ) -> Result<Self> {
        let vars = self
            .names
            .iter()
            .zip(&self.vars)
            .map(|(name, var)| Ok(Var::from_tensor(&f(name, var.as_tensor())?)?))
            .collect::<Result<_>>()?;
        Ok(Params {
            names: self.names.clone(),
            roles: self.roles.clone(),
            vars,
            layout: self.layout.clone(),
        })
    }

    fn layout(&self) -> &ModelParams<usize> {
        self.layout
            .as_ref()
            .expect("a model's parameters (not a set of adapters)")
    }

    /// The parameters' names by what they do.
    pub fn model_names(&self) -> ModelParams<String> {
        self.layout().map(|&i| self.names[i].clone())
    }

    /// The parameters as tensors by what they do, for building a model. With `track_gradients`
    /// false they are detached views of the same storage: no graph is recorded, yet every
    /// update is seen.
    pub fn model_tensors(&self, track_gradients: bool) -> ModelParams<Tensor> {
        self.layout().map(|&i| {
            let t = self.vars[i].as_tensor();
            if track_gradients {
                t.clone()
            } else {
                t.detach()
            }
        })
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        self.vars[0].device()
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
        let (specs, layout) = parameter_layout(config);
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
        Ok(Self::from_specs(specs, layout, vars))
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
