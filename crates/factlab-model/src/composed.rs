//! The model's building blocks composed from candle's built-in differentiable ops: the reference
//! for the fused kernels of [`crate::kernels`] (same signatures, tests compare the two), and the
//! implementation on devices the kernels have no code for.

use candle_core::{Device, Tensor, D};

use crate::kernels::RopeTables;
use crate::Result;

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

/// RMSNorm of `x (…, d)` with gain `weight (d)`.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
    Ok(x.broadcast_div(&rms)?.broadcast_mul(weight)?)
}

/// `silu(gate) ⊙ up` of `gate_up (…, 2f)` (gate first).
pub fn swiglu(gate_up: &Tensor) -> Result<Tensor> {
    let f = gate_up.dim(D::Minus1)? / 2;
    let gate = gate_up.narrow(D::Minus1, 0, f)?;
    let up = gate_up.narrow(D::Minus1, f, f)?;
    Ok((gate.silu()? * up)?)
}

/// The rotary tables as tensors (each frequency repeated over both halves of a head) and the
/// additive causal mask, made once per model.
pub struct AttentionTables {
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
}

impl AttentionTables {
    pub fn new(rope: &RopeTables, device: &Device) -> Result<Self> {
        let n = rope.positions();
        let (cos, sin) = rope.full_tables();
        let head_dim = cos.len() / n.max(1);
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| (0..n).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        Ok(AttentionTables {
            cos: Tensor::from_vec(cos, (n, head_dim), device)?,
            sin: Tensor::from_vec(sin, (n, head_dim), device)?,
            mask: Tensor::from_vec(mask, (n, n), device)?,
        })
    }

    /// Rotary embedding of `x (batch, heads, seq, head_dim)`: `x·cos + rotate_half(x)·sin`.
    fn rotate(&self, x: &Tensor) -> Result<Tensor> {
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

/// Causal attention of `qkv (batch, seq, 3·hidden)` (queries, keys, values side by side) with
/// `heads` heads: `(batch, seq, hidden)`.
pub fn causal_attention(qkv: &Tensor, heads: usize, tables: &AttentionTables) -> Result<Tensor> {
    let (batch, seq, width) = qkv.dims3()?;
    let hidden = width / 3;
    let head_dim = hidden / heads;
    let split = |part: usize| -> Result<Tensor> {
        Ok(qkv
            .narrow(D::Minus1, part * hidden, hidden)?
            .reshape((batch, seq, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    };
    let q = tables.rotate(&split(0)?)?;
    let k = tables.rotate(&split(1)?)?;
    let v = split(2)?;
    let mask = tables.mask.narrow(0, 0, seq)?.narrow(1, 0, seq)?;
    let scores = (q.matmul(&k.t()?)? * (1.0 / (head_dim as f64).sqrt()))?;
    let weights = softmax(&scores.broadcast_add(&mask)?)?;
    Ok(weights
        .matmul(&v)?
        .transpose(1, 2)?
        .reshape((batch, seq, hidden))?)
}
