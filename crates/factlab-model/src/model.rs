//! A decoder-only Llama: embeddings, `num_layers` pre-norm blocks (attention then SwiGLU MLP,
//! each added to the residual stream), a final RMSNorm and the output projection.
//!
//! Two implementations of the same blocks: the fused CPU kernels of [`crate::kernels`], and
//! compositions of candle's differentiable ops (the reference, and the path on other devices).
//! Every op of either has a backward pass: candle's own fused `rms_norm`, `softmax_last_dim`
//! and `rope` kernels have none, and gradients would silently stop at them.

use std::sync::Arc;

use candle_core::{Device, Tensor};

use crate::composed::{self, AttentionTables};
use crate::kernels::{self, Kernels, RopeTables};
use crate::lora::{Lora, LowRank};
use crate::{ModelConfig, Params, Result};

/// `x @ w.T` for activations `x (tokens, in)` and a Hugging Face `(out, in)` weight.
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.matmul(&w.t()?)?)
}

/// A weight as the forward uses it: the variable's view, plus its LoRA update if it has one.
struct Weight {
    base: Tensor,
    update: Option<LowRank>,
}

impl Weight {
    /// Made anew at each forward, as the update changes at every optimizer step.
    fn effective(&self) -> Result<Tensor> {
        match &self.update {
            Some(update) => update.apply(&self.base),
            None => Ok(self.base.clone()),
        }
    }
}

/// Activations are `(tokens, width)` matrices with the rows of a batch's sequences one after
/// another (every reshape is a node that autograd pays for); attention alone needs the split.
#[derive(Clone, Copy)]
struct Tokens {
    batch: usize,
    seq: usize,
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor, kernels: &Implementation) -> Result<Tensor> {
        match kernels {
            Implementation::Fused(_) => Ok(kernels::rms_norm(x, &self.weight, self.eps)?),
            Implementation::Composed(_) => composed::rms_norm(x, &self.weight, self.eps),
        }
    }
}

/// The kernels in use, with the tables each needs.
enum Implementation {
    Fused(Arc<RopeTables>),
    Composed(AttentionTables),
}

struct Attention {
    q: Weight,
    k: Tensor,
    v: Weight,
    o: Tensor,
    num_heads: usize,
}

impl Attention {
    fn forward(&self, x: &Tensor, tokens: Tokens, kernels: &Implementation) -> Result<Tensor> {
        // One product by the stacked weights gives queries, keys and values. The stack is made
        // anew each time: the model holds views of the variables, which the optimizer updates.
        let (q, v) = (self.q.effective()?, self.v.effective()?);
        let qkv = linear(x, &Tensor::cat(&[&q, &self.k, &v], 0)?)?;
        let width = qkv.dim(1)?;
        let qkv = qkv.reshape((tokens.batch, tokens.seq, width))?;
        let y = match kernels {
            Implementation::Fused(rope) => kernels::causal_attention(&qkv, self.num_heads, rope)?,
            Implementation::Composed(tables) => {
                composed::causal_attention(&qkv, self.num_heads, tables)?
            }
        };
        linear(&y.reshape((tokens.batch * tokens.seq, width / 3))?, &self.o)
    }
}

struct Mlp {
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

impl Mlp {
    fn forward(&self, x: &Tensor, kernels: &Implementation) -> Result<Tensor> {
        let gate_up = linear(x, &Tensor::cat(&[&self.gate, &self.up], 0)?)?;
        let hidden = match kernels {
            Implementation::Fused(_) => kernels::swiglu(&gate_up)?,
            Implementation::Composed(_) => composed::swiglu(&gate_up)?,
        };
        linear(&hidden, &self.down)
    }
}

struct Block {
    input_norm: RmsNorm,
    attention: Attention,
    post_attention_norm: RmsNorm,
    mlp: Mlp,
}

impl Block {
    fn forward(&self, x: &Tensor, tokens: Tokens, kernels: &Implementation) -> Result<Tensor> {
        let normed = self.input_norm.forward(x, kernels)?;
        let x = (x + self.attention.forward(&normed, tokens, kernels)?)?;
        let normed = self.post_attention_norm.forward(&x, kernels)?;
        Ok((&x + self.mlp.forward(&normed, kernels)?)?)
    }
}

/// The model over a set of [`Params`]. It holds views of the variables, so an optimizer update
/// is seen by the next forward without rebuilding.
pub struct Llama {
    embed: Weight,
    blocks: Vec<Block>,
    norm: RmsNorm,
    /// `None` when the output layer is the embedding (tied), LoRA update included.
    lm_head: Option<Tensor>,
    implementation: Implementation,
}

impl Llama {
    /// With `track_gradients` false the tensors are detached views of the same storage: the
    /// forward records no graph (for scoring), yet still sees every update. Runs the fused
    /// kernels on the CPU and the composed ops on other devices.
    pub fn new(config: &ModelConfig, params: &Params, track_gradients: bool) -> Result<Self> {
        let kernels = Kernels::for_device(params.device());
        Self::with_kernels(config, params, track_gradients, kernels)
    }

    pub fn with_kernels(
        config: &ModelConfig,
        params: &Params,
        track_gradients: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        Self::build(config, params, None, track_gradients, kernels)
    }

    /// The model with LoRA adapters: the base weights are frozen (detached, no gradients), and
    /// the adapters record a graph when `track_gradients` is set.
    pub fn with_lora(
        config: &ModelConfig,
        params: &Params,
        lora: &Lora,
        track_gradients: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        Self::build(config, params, Some(lora), track_gradients, kernels)
    }

    fn build(
        config: &ModelConfig,
        params: &Params,
        lora: Option<&Lora>,
        track_gradients: bool,
        kernels: Kernels,
    ) -> Result<Self> {
        let tensors = params.model_tensors(track_gradients && lora.is_none());
        let names = params.model_names();
        let weight = |base: &Tensor, name: &str| Weight {
            base: base.clone(),
            update: lora.and_then(|l| l.update_of(name, track_gradients)),
        };
        let norm = |weight: &Tensor| RmsNorm {
            weight: weight.clone(),
            eps: config.rms_norm_eps,
        };
        let blocks = tensors
            .blocks
            .iter()
            .zip(&names.blocks)
            .map(|(b, n)| Block {
                input_norm: norm(&b.input_norm),
                attention: Attention {
                    q: weight(&b.q, &n.q),
                    k: b.k.clone(),
                    v: weight(&b.v, &n.v),
                    o: b.o.clone(),
                    num_heads: config.num_heads,
                },
                post_attention_norm: norm(&b.post_attention_norm),
                mlp: Mlp {
                    gate: b.gate.clone(),
                    up: b.up.clone(),
                    down: b.down.clone(),
                },
            })
            .collect();
        let embed = weight(&tensors.embed, &names.embed);
        let device = embed.base.device().clone();
        let rope = RopeTables::new(
            config.head_dim(),
            config.max_position_embeddings,
            config.rope_theta,
        );
        let implementation = match kernels {
            Kernels::Fused => Implementation::Fused(Arc::new(rope)),
            Kernels::Composed => Implementation::Composed(AttentionTables::new(&rope, &device)?),
        };
        Ok(Llama {
            embed,
            blocks,
            norm: norm(&tensors.norm),
            lm_head: tensors.lm_head.clone(),
            implementation,
        })
    }

    /// The embedding and the output layer for one forward (the same tensor when tied).
    fn embedding(&self) -> Result<(Tensor, Tensor)> {
        let embed = self.embed.effective()?;
        let lm_head = self.lm_head.clone().unwrap_or_else(|| embed.clone());
        Ok((embed, lm_head))
    }

    pub fn kernels(&self) -> Kernels {
        match self.implementation {
            Implementation::Fused(_) => Kernels::Fused,
            Implementation::Composed(_) => Kernels::Composed,
        }
    }

    /// Logits `(batch, seq, vocab)` for token ids `(batch, seq)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_hidden(ids, false)?.0)
    }

    /// Logits and, when asked, the residual stream after the embedding and after each block
    /// (`num_layers + 1` tensors of `(batch, seq, hidden)`, before the final norm).
    pub fn forward_with_hidden(&self, ids: &Tensor, keep: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let (batch, seq) = ids.dims2()?;
        let mut hidden = Vec::new();
        let (embed, lm_head) = self.embedding()?;
        let normed = self.final_states(&embed, ids, keep.then_some(&mut hidden))?;
        let logits = linear(&normed, &lm_head)?;
        let width = embed.dim(1)?;
        let hidden = hidden
            .iter()
            .map(|h| h.reshape((batch, seq, width)))
            .collect::<candle_core::Result<_>>()?;
        Ok((logits.reshape((batch, seq, ()))?, hidden))
    }

    /// Logits `(positions, vocab)` at the given positions of `ids (batch, seq)`, counted row by
    /// row (`b · seq + t`): the output layer runs on those positions only (for scoring targets).
    pub fn logits_at(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let (embed, lm_head) = self.embedding()?;
        let normed = self.final_states(&embed, ids, None)?;
        linear(&normed.index_select(positions, 0)?, &lm_head)
    }

    /// The final norm of the residual stream, `(batch · seq, hidden)`; with `hidden` given, the
    /// residual stream after the embedding and after each block is pushed onto it.
    fn final_states(
        &self,
        embed: &Tensor,
        ids: &Tensor,
        mut hidden: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let tokens = Tokens { batch, seq };
        let mut x = embed.index_select(&ids.flatten_all()?, 0)?;
        for block in &self.blocks {
            if let Some(hidden) = hidden.as_deref_mut() {
                hidden.push(x.clone());
            }
            x = block.forward(&x, tokens, &self.implementation)?;
        }
        if let Some(hidden) = hidden {
            hidden.push(x.clone());
        }
        self.norm.forward(&x, &self.implementation)
    }

    /// Mean next-token cross-entropy of rows of token ids `(batch, seq)`: positions `0..seq-1`
    /// predict `1..seq`.
    pub fn loss(&self, rows: &Tensor) -> Result<Tensor> {
        self.loss_at(rows, None)
    }

    /// Mean next-token cross-entropy over the predictions at `positions` only (counted row by
    /// row over the `seq - 1` predicting positions, `b · (seq - 1) + t`), or over all of them.
    pub fn loss_at(&self, rows: &Tensor, positions: Option<&Tensor>) -> Result<Tensor> {
        let seq = rows.dim(1)?;
        let inputs = rows.narrow(1, 0, seq - 1)?;
        let mut targets = rows.narrow(1, 1, seq - 1)?.flatten_all()?;
        let (embed, lm_head) = self.embedding()?;
        let mut normed = self.final_states(&embed, &inputs, None)?;
        if let Some(positions) = positions {
            normed = normed.index_select(positions, 0)?;
            targets = targets.index_select(positions, 0)?;
        }
        match self.implementation {
            Implementation::Fused(_) => {
                Ok(kernels::linear_cross_entropy(&normed, &lm_head, &targets)?)
            }
            Implementation::Composed(_) => {
                composed::cross_entropy(&linear(&normed, &lm_head)?, &targets)
            }
        }
    }
}

/// Token ids as a `(rows, len)` u32 tensor.
pub fn ids_tensor(rows: &[Vec<u32>], device: &Device) -> Result<Tensor> {
    let len = rows.first().map_or(0, Vec::len);
    let flat: Vec<u32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), len), device)?)
}
