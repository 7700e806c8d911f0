//! A decoder-only Llama: embeddings, `num_layers` pre-norm blocks (attention then SwiGLU MLP,
//! each added to the residual stream), a final RMSNorm and the output projection.
//!
//! Every op here has a backward pass: candle's fused `rms_norm`, `softmax_last_dim` and `rope`
//! kernels have none, and gradients would silently stop at them.

use candle_core::{Device, Tensor, D};

use crate::{ModelConfig, Params, Result};

/// `x @ w.T` for a Hugging Face `(out, in)` weight, on inputs of any leading shape.
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let (rows, inner) = (
        dims[..dims.len() - 1].iter().product::<usize>(),
        dims[dims.len() - 1],
    );
    let y = x.reshape((rows, inner))?.matmul(&w.t()?)?;
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("non-scalar input") = w.dim(0)?;
    Ok(y.reshape(out_dims)?)
}

/// Softmax over the last dimension. Subtracting the (constant) row maximum leaves the gradient
/// unchanged, so it is detached.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?;
    let e = shifted.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// Log-softmax over the last dimension.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?;
    let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&log_sum)?)
}

/// Mean cross-entropy of `logits (n, vocab)` against `targets (n)`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let picked = log_softmax(logits)?.gather(&targets.unsqueeze(1)?, 1)?;
    Ok(picked.mean_all()?.neg()?)
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?;
        Ok(x.broadcast_div(&rms)?.broadcast_mul(&self.weight)?)
    }
}

/// Rotary tables in Hugging Face's layout: frequencies repeated over the two halves of a head,
/// rotated with `rotate_half` (not interleaved pairs).
struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        let half = config.head_dim() / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                1.0 / config
                    .rope_theta
                    .powf(2.0 * i as f64 / config.head_dim() as f64) as f32
            })
            .collect();
        let positions = config.max_position_embeddings;
        let angles: Vec<f32> = (0..positions)
            .flat_map(|p| {
                let inv = &inv_freq;
                (0..2 * half).map(move |j| p as f32 * inv[j % half])
            })
            .collect();
        let angles = Tensor::from_vec(angles, (positions, 2 * half), device)?;
        Ok(Rotary {
            cos: angles.cos()?,
            sin: angles.sin()?,
        })
    }

    /// `x` is `(batch, heads, seq, head_dim)`.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, seq, head_dim) = x.dims4()?;
        let half = head_dim / 2;
        let cos = self.cos.narrow(0, 0, seq)?;
        let sin = self.sin.narrow(0, 0, seq)?;
        let rotated = Tensor::cat(
            &[
                &x.narrow(D::Minus1, half, half)?.neg()?,
                &x.narrow(D::Minus1, 0, half)?,
            ],
            D::Minus1,
        )?;
        Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
    }
}

struct Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    num_heads: usize,
}

impl Attention {
    fn forward(&self, x: &Tensor, rotary: &Rotary, mask: &Tensor) -> Result<Tensor> {
        let (batch, seq, width) = x.dims3()?;
        let head_dim = width / self.num_heads;
        let heads = |w: &Tensor| -> Result<Tensor> {
            Ok(linear(x, w)?
                .reshape((batch, seq, self.num_heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = rotary.apply(&heads(&self.q)?)?;
        let k = rotary.apply(&heads(&self.k)?)?;
        let v = heads(&self.v)?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (head_dim as f64).sqrt()))?;
        let weights = softmax(&scores.broadcast_add(mask)?)?;
        let y = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, seq, width))?;
        linear(&y, &self.o)
    }
}

struct Mlp {
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let hidden = (linear(x, &self.gate)?.silu()? * linear(x, &self.up)?)?;
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
    fn forward(&self, x: &Tensor, rotary: &Rotary, mask: &Tensor) -> Result<Tensor> {
        let x = (x + self
            .attention
            .forward(&self.input_norm.forward(x)?, rotary, mask)?)?;
        Ok((&x + self.mlp.forward(&self.post_attention_norm.forward(&x)?)?)?)
    }
}

/// The model over a set of [`Params`]. It holds views of the variables, so an optimizer update
/// is seen by the next forward without rebuilding.
pub struct Llama {
    embed: Tensor,
    blocks: Vec<Block>,
    norm: RmsNorm,
    lm_head: Tensor,
    rotary: Rotary,
    mask: Tensor,
}

impl Llama {
    /// With `track_gradients` false the tensors are detached views of the same storage: the
    /// forward records no graph (for scoring), yet still sees every update.
    pub fn new(config: &ModelConfig, params: &Params, track_gradients: bool) -> Result<Self> {
        let get = |name: &str| {
            let t = params.get(name);
            if track_gradients {
                t.clone()
            } else {
                t.detach()
            }
        };
        let norm = |name: &str| RmsNorm {
            weight: get(name),
            eps: config.rms_norm_eps,
        };
        let blocks = (0..config.num_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                Block {
                    input_norm: norm(&format!("{p}.input_layernorm.weight")),
                    attention: Attention {
                        q: get(&format!("{p}.self_attn.q_proj.weight")),
                        k: get(&format!("{p}.self_attn.k_proj.weight")),
                        v: get(&format!("{p}.self_attn.v_proj.weight")),
                        o: get(&format!("{p}.self_attn.o_proj.weight")),
                        num_heads: config.num_heads,
                    },
                    post_attention_norm: norm(&format!("{p}.post_attention_layernorm.weight")),
                    mlp: Mlp {
                        gate: get(&format!("{p}.mlp.gate_proj.weight")),
                        up: get(&format!("{p}.mlp.up_proj.weight")),
                        down: get(&format!("{p}.mlp.down_proj.weight")),
                    },
                }
            })
            .collect();
        let embed = get("model.embed_tokens.weight");
        let lm_head = if config.tie_word_embeddings {
            embed.clone()
        } else {
            get("lm_head.weight")
        };
        let device = embed.device().clone();
        let n = config.max_position_embeddings;
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| (0..n).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        Ok(Llama {
            embed,
            blocks,
            norm: norm("model.norm.weight"),
            lm_head,
            rotary: Rotary::new(config, &device)?,
            mask: Tensor::from_vec(mask, (n, n), &device)?,
        })
    }

    /// Logits `(batch, seq, vocab)` for token ids `(batch, seq)`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_hidden(ids, false)?.0)
    }

    /// Logits and, when asked, the residual stream after the embedding and after each block
    /// (`num_layers + 1` tensors of `(batch, seq, hidden)`, before the final norm).
    pub fn forward_with_hidden(&self, ids: &Tensor, keep: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let (batch, seq) = ids.dims2()?;
        let mask = self.mask.narrow(0, 0, seq)?.narrow(1, 0, seq)?;
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((
            batch,
            seq,
            self.embed.dim(1)?,
        ))?;
        let mut hidden = Vec::new();
        for block in &self.blocks {
            if keep {
                hidden.push(x.clone());
            }
            x = block.forward(&x, &self.rotary, &mask)?;
        }
        if keep {
            hidden.push(x.clone());
        }
        let logits = linear(&self.norm.forward(&x)?, &self.lm_head)?;
        Ok((logits, hidden))
    }

    /// Mean next-token cross-entropy of rows of token ids `(batch, seq)`: positions `0..seq-1`
    /// predict `1..seq`.
    pub fn loss(&self, rows: &Tensor) -> Result<Tensor> {
        let (batch, seq) = rows.dims2()?;
        let inputs = rows.narrow(1, 0, seq - 1)?;
        let targets = rows.narrow(1, 1, seq - 1)?.flatten_all()?;
        let logits = self.forward(&inputs)?;
        let vocab = logits.dim(2)?;
        cross_entropy(&logits.reshape((batch * (seq - 1), vocab))?, &targets)
    }
}

/// Token ids as a `(rows, len)` u32 tensor.
pub fn ids_tensor(rows: &[Vec<u32>], device: &Device) -> Result<Tensor> {
    let len = rows.first().map_or(0, Vec::len);
    let flat: Vec<u32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), len), device)?)
}
