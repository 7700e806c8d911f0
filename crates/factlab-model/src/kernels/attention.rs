//! Causal self-attention core: rotary embedding of queries and keys, `softmax(q·kᵀ/√d_h)` over
//! the positions up to each query, and the weighted sum of values, per (row, head) in one task.
//!
//! The input is the output of one projection by the stacked `[q; k; v]` weights, `(batch, seq,
//! 3·hidden)`, read in place; the output is `(batch, seq, hidden)`, ready for the output
//! projection. The op keeps each head's rotated queries, keys and attention weights for the
//! backward pass while they fit in the keep limit ([`super::set_keep_limit`]); above that, backward recomputes them one
//! head at a time, as FlashAttention does (one more `q·kᵀ` per head instead of the largest
//! activation of the model). Either way the results are the same bytes.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{exp, f32_data, matmul, within_keep_limit, DisjointWrites, Operand};

/// Rotary tables in Hugging Face's layout: angle `p · θ^(−2j/d_h)` for position `p` and
/// frequency `j < d_h/2`, applied to the two halves of a head (`rotate_half`, not pairs).
pub struct RopeTables {
    half: usize,
    positions: usize,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTables {
    pub fn new(head_dim: usize, positions: usize, theta: f64) -> Self {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|j| 1.0 / theta.powf(2.0 * j as f64 / head_dim as f64) as f32)
            .collect();
        let angles: Vec<f32> = (0..positions)
            .flat_map(|p| inv_freq.iter().map(move |f| p as f32 * f))
            .collect();
        RopeTables {
            half,
            positions,
            cos: angles.iter().map(|a| a.cos()).collect(),
            sin: angles.iter().map(|a| a.sin()).collect(),
        }
    }

    pub fn positions(&self) -> usize {
        self.positions
    }

    /// `(positions, head_dim)` tables with each frequency repeated over both halves, as the
    /// composed implementation multiplies them.
    pub fn full_tables(&self) -> (Vec<f32>, Vec<f32>) {
        let full = |table: &[f32]| -> Vec<f32> {
            table
                .chunks(self.half)
                .flat_map(|row| row.iter().chain(row).copied())
                .collect()
        };
        (full(&self.cos), full(&self.sin))
    }

    /// Rotates `x` (one head at position `p`) by its angles, or back by them when `inverse` (the
    /// transpose of the rotation, which is what its gradient needs).
    fn rotate(&self, x: &[f32], p: usize, inverse: bool, out: &mut [f32]) {
        let h = self.half;
        let (cos, sin) = (&self.cos[p * h..(p + 1) * h], &self.sin[p * h..(p + 1) * h]);
        let sign = if inverse { -1.0 } else { 1.0 };
        for j in 0..h {
            let (a, b) = (x[j], x[j + h]);
            let s = sign * sin[j];
            out[j] = a * cos[j] - b * s;
            out[j + h] = b * cos[j] + a * s;
        }
    }
}

/// Causal attention of `qkv (batch, seq, 3·hidden)` with `heads` heads and the rotary tables.
pub fn causal_attention(qkv: &Tensor, heads: usize, rope: &Arc<RopeTables>) -> Result<Tensor> {
    qkv.contiguous()?.apply_op1(CausalAttention {
        heads,
        rope: rope.clone(),
        kept: Mutex::new(None),
    })
}

struct CausalAttention {
    heads: usize,
    rope: Arc<RopeTables>,
    /// Every head's scratch from the forward pass, for backward, in task order.
    kept: Mutex<Option<Vec<Head>>>,
}

/// The dimensions of one call.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    seq: usize,
    hidden: usize,
    head_dim: usize,
    heads: usize,
}

impl Dims {
    fn of(layout: &Layout, heads: usize, positions: usize) -> Result<Self> {
        let (batch, seq, width) = layout.shape().dims3()?;
        if !width.is_multiple_of(3) || !(width / 3).is_multiple_of(heads) {
            candle_core::bail!("attention: width {width} is not 3 × heads {heads} × head size");
        }
        if seq > positions {
            candle_core::bail!("attention: {seq} positions, rotary tables cover {positions}");
        }
        let hidden = width / 3;
        Ok(Dims {
            batch,
            seq,
            hidden,
            head_dim: hidden / heads,
            heads,
        })
    }

    /// Offset of head `h`'s block `part` (0 = q, 1 = k, 2 = v) in row `t` of batch item `b`.
    fn qkv_offset(&self, b: usize, t: usize, part: usize, h: usize) -> usize {
        (b * self.seq + t) * 3 * self.hidden + part * self.hidden + h * self.head_dim
    }

    fn out_offset(&self, b: usize, t: usize, h: usize) -> usize {
        (b * self.seq + t) * self.hidden + h * self.head_dim
    }
}

/// Query rows per block: block `r` attends to keys `0..end(r)` only, so the products skip most
/// of the masked upper triangle.
const QUERY_BLOCK: usize = 32;

/// The query blocks of a sequence as (first row, rows, keys visible to the block).
fn query_blocks(seq: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..seq).step_by(QUERY_BLOCK).map(move |start| {
        (
            start,
            QUERY_BLOCK.min(seq - start),
            (start + QUERY_BLOCK).min(seq),
        )
    })
}

/// Per-head scratch: rotated queries and keys `(seq, head_dim)` and the weights `(seq, seq)`
/// (entries above the diagonal stay zero).
struct Head {
    q: Vec<f32>,
    k: Vec<f32>,
    weights: Vec<f32>,
}

impl CausalAttention {
    /// Rotated q and k of head `h` of item `b`, and its causal softmax weights.
    fn head(&self, qkv: &[f32], dims: Dims, b: usize, h: usize) -> Head {
        let Dims { seq, head_dim, .. } = dims;
        let mut head = Head {
            q: vec![0f32; seq * head_dim],
            k: vec![0f32; seq * head_dim],
            weights: vec![0f32; seq * seq],
        };
        for t in 0..seq {
            let rows = t * head_dim..(t + 1) * head_dim;
            let q = &qkv[dims.qkv_offset(b, t, 0, h)..][..head_dim];
            let k = &qkv[dims.qkv_offset(b, t, 1, h)..][..head_dim];
            self.rope.rotate(q, t, false, &mut head.q[rows.clone()]);
            self.rope.rotate(k, t, false, &mut head.k[rows]);
        }
        let scale = 1.0 / (head_dim as f32).sqrt();
        for (start, rows, keys) in query_blocks(seq) {
            let q = Operand::rows(head.q[start * head_dim..].as_ptr(), head_dim);
            let k_t = Operand::rows(head.k.as_ptr(), head_dim).transposed();
            let out = head.weights[start * seq..].as_mut_ptr();
            // Safety: q rows start..start+rows and k rows 0..keys are inside their buffers; the
            // block of weights written is rows × keys at row stride seq, inside `weights`.
            unsafe { matmul((rows, keys, head_dim), out, seq, false, q, k_t, scale) };
        }
        for (i, row) in head.weights.chunks_mut(seq).enumerate() {
            let (visible, future) = row.split_at_mut(i + 1);
            let max = visible.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for w in visible.iter_mut() {
                *w = exp(*w - max);
            }
            let sum: f32 = visible.iter().sum();
            for w in visible.iter_mut() {
                *w /= sum;
            }
            future.fill(0.0);
        }
        head
    }

    fn tasks(dims: Dims) -> impl IndexedParallelIterator<Item = (usize, usize)> {
        (0..dims.batch * dims.heads)
            .into_par_iter()
            .map(move |i| (i / dims.heads, i % dims.heads))
    }
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_data(storage, layout, self.name())?;
        let dims = Dims::of(layout, self.heads, self.rope.positions())?;
        let mut out = vec![0f32; dims.batch * dims.seq * dims.hidden];
        let writes = DisjointWrites(out.as_mut_ptr());
        let heads: Vec<Head> = Self::tasks(dims)
            .map(|(b, h)| {
                let head = self.head(qkv, dims, b, h);
                let v = Operand::rows(qkv[dims.qkv_offset(b, 0, 2, h)..].as_ptr(), 3 * dims.hidden);
                // Safety: task (b, h) writes only head h's columns of item b's rows of `out`; each
                // block reads the weights of its rows over the keys it sees.
                for (start, rows, keys) in query_blocks(dims.seq) {
                    let weights =
                        Operand::rows(head.weights[start * dims.seq..].as_ptr(), dims.seq);
                    unsafe {
                        let y = writes.at(dims.out_offset(b, start, h));
                        matmul(
                            (rows, dims.head_dim, keys),
                            y,
                            dims.hidden,
                            false,
                            weights,
                            v,
                            1.0,
                        );
                    }
                }
                head
            })
            .collect();
        let kept_bytes = heads.len() * (2 * dims.seq * dims.head_dim + dims.seq * dims.seq) * 4;
        if within_keep_limit(kept_bytes) {
            *self.kept.lock().expect("not poisoned") = Some(heads);
        }
        Ok((
            CpuStorage::F32(out),
            Shape::from((dims.batch, dims.seq, dims.hidden)),
        ))
    }

    fn bwd(&self, qkv: &Tensor, _out: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(qkv.apply_op2_no_bwd(
            &grad.contiguous()?,
            &CausalAttentionBackward { forward: self },
        )?))
    }
}

/// `(qkv, d_out)` → `d_qkv`.
struct CausalAttentionBackward<'a> {
    forward: &'a CausalAttention,
}

impl CustomOp2 for CausalAttentionBackward<'_> {
    fn name(&self) -> &'static str {
        "fused-causal-attention-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_data(s1, l1, self.name())?;
        let d_out = f32_data(s2, l2, self.name())?;
        let attention = self.forward;
        let dims = Dims::of(l1, attention.heads, attention.rope.positions())?;
        let Dims {
            seq,
            hidden,
            head_dim,
            ..
        } = dims;
        let mut d_qkv = vec![0f32; qkv.len()];
        let writes = DisjointWrites(d_qkv.as_mut_ptr());
        let scale = 1.0 / (head_dim as f32).sqrt();
        let kept = attention.kept.lock().expect("not poisoned").take();
        CausalAttention::tasks(dims).for_each(|(b, h)| {
            let recomputed;
            let head = match &kept {
                Some(heads) => &heads[b * dims.heads + h],
                None => {
                    recomputed = attention.head(qkv, dims, b, h);
                    &recomputed
                }
            };
            let v = Operand::rows(qkv[dims.qkv_offset(b, 0, 2, h)..].as_ptr(), 3 * hidden);
            let mut d_scores = vec![0f32; seq * seq];
            let mut d_q = vec![0f32; seq * head_dim];
            let mut d_k = vec![0f32; seq * head_dim];
            let k_all = Operand::rows(head.k.as_ptr(), head_dim);
            let d_v = unsafe { writes.at(dims.qkv_offset(b, 0, 2, h)) };
            for (i, (start, rows, keys)) in query_blocks(seq).enumerate() {
                let weights = Operand::rows(head.weights[start * seq..].as_ptr(), seq);
                let dy = Operand::rows(d_out[dims.out_offset(b, start, h)..].as_ptr(), hidden);
                let d_w = d_scores[start * seq..].as_mut_ptr();
                // Safety: the scratch buffers are this task's own; in d_qkv the task writes
                // only head h's v columns of item b's rows 0..keys. Blocks add to d_v in order.
                unsafe {
                    matmul(
                        (keys, head_dim, rows),
                        d_v,
                        3 * hidden,
                        i > 0,
                        weights.transposed(),
                        dy,
                        1.0,
                    );
                    matmul(
                        (rows, keys, head_dim),
                        d_w,
                        seq,
                        false,
                        dy,
                        v.transposed(),
                        1.0,
                    );
                }
                // Softmax backward: dS = P ⊙ (dP − Σ_j P·dP), times the score scale.
                let block = start * seq..(start + rows) * seq;
                for (d_row, p_row) in d_scores[block.clone()]
                    .chunks_mut(seq)
                    .zip(head.weights[block].chunks(seq))
                {
                    let (d_row, p_row) = (&mut d_row[..keys], &p_row[..keys]);
                    let dot: f32 = d_row.iter().zip(p_row).map(|(d, p)| d * p).sum();
                    for (d, p) in d_row.iter_mut().zip(p_row) {
                        *d = p * (*d - dot) * scale;
                    }
                }
                let d_s = Operand::rows(d_scores[start * seq..].as_ptr(), seq);
                let q = Operand::rows(head.q[start * head_dim..].as_ptr(), head_dim);
                unsafe {
                    let d_q = d_q[start * head_dim..].as_mut_ptr();
                    matmul(
                        (rows, head_dim, keys),
                        d_q,
                        head_dim,
                        false,
                        d_s,
                        k_all,
                        1.0,
                    );
                    let d_k = d_k.as_mut_ptr();
                    matmul(
                        (keys, head_dim, rows),
                        d_k,
                        head_dim,
                        i > 0,
                        d_s.transposed(),
                        q,
                        1.0,
                    );
                }
            }
            for t in 0..seq {
                let rows = t * head_dim..(t + 1) * head_dim;
                for (part, rotated) in [(0, &d_q), (1, &d_k)] {
                    // Safety: as above, head h's columns of row t of item b.
                    let target = unsafe {
                        std::slice::from_raw_parts_mut(
                            writes.at(dims.qkv_offset(b, t, part, h)),
                            head_dim,
                        )
                    };
                    attention
                        .rope
                        .rotate(&rotated[rows.clone()], t, true, target);
                }
            }
        });
        Ok((CpuStorage::F32(d_qkv), l1.shape().clone()))
    }
}
