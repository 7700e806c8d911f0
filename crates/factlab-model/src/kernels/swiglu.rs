//! SwiGLU activation `silu(gate) ⊙ up` on the concatenated gate and up projections.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{exp, f32_data, ROWS_PER_TASK};

/// `gate_up (…, 2f)` holds the gate projection in its first `f` columns and the up projection
/// in the rest; returns `silu(gate) ⊙ up (…, f)`.
pub fn swiglu(gate_up: &Tensor) -> Result<Tensor> {
    gate_up.contiguous()?.apply_op1(Swiglu)
}

struct Swiglu;

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + exp(-v))
}

impl CustomOp1 for Swiglu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = f32_data(storage, layout, self.name())?;
        let mut dims = layout.dims().to_vec();
        let width = *dims.last().unwrap_or(&0);
        if !width.is_multiple_of(2) {
            candle_core::bail!("{}: last dimension {width} is odd", self.name());
        }
        let f = width / 2;
        let mut out = vec![0f32; input.len() / 2];
        out.par_chunks_mut(f * ROWS_PER_TASK)
            .zip(input.par_chunks(width * ROWS_PER_TASK))
            .for_each(|(out, input)| {
                for (out, row) in out.chunks_mut(f).zip(input.chunks(width)) {
                    let (gate, up) = row.split_at(f);
                    for ((o, g), u) in out.iter_mut().zip(gate).zip(up) {
                        *o = g * sigmoid(*g) * u;
                    }
                }
            });
        *dims.last_mut().expect("checked above") = f;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(&self, gate_up: &Tensor, _out: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            gate_up.apply_op2_no_bwd(&grad.contiguous()?, &SwigluBackward)?,
        ))
    }
}

/// `(gate_up, d_out)` → `d_gate_up`.
struct SwigluBackward;

impl CustomOp2 for SwigluBackward {
    fn name(&self) -> &'static str {
        "fused-swiglu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let input = f32_data(s1, l1, self.name())?;
        let grad = f32_data(s2, l2, self.name())?;
        let width = *l1.dims().last().unwrap_or(&0);
        let f = width / 2;
        let mut out = vec![0f32; input.len()];
        out.par_chunks_mut(width * ROWS_PER_TASK)
            .zip(input.par_chunks(width * ROWS_PER_TASK))
            .zip(grad.par_chunks(f * ROWS_PER_TASK))
            .for_each(|((out, input), grad)| {
                for ((out, row), grad) in out
                    .chunks_mut(width)
                    .zip(input.chunks(width))
                    .zip(grad.chunks(f))
                {
                    let (gate, up) = row.split_at(f);
                    let (d_gate, d_up) = out.split_at_mut(f);
                    for j in 0..f {
                        let s = sigmoid(gate[j]);
                        let silu = gate[j] * s;
                        d_gate[j] = grad[j] * up[j] * s * (1.0 + gate[j] * (1.0 - s));
                        d_up[j] = grad[j] * silu;
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
