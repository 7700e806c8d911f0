//! RMSNorm `y = x / sqrt(mean(x²) + eps) · w` over the last dimension.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32_data, ROWS_PER_TASK};

/// RMSNorm of `x (…, d)` with gain `weight (d)`.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&weight.contiguous()?, RmsNorm { eps: eps as f32 })
}

struct RmsNorm {
    eps: f32,
}

impl RmsNorm {
    fn inverse_rms(&self, row: &[f32]) -> f32 {
        let mean = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
        1.0 / (mean + self.eps).sqrt()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (
            f32_data(xs, xl, self.name())?,
            f32_data(ws, wl, self.name())?,
        );
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(y, x)| {
                for (y, x) in y.chunks_mut(d).zip(x.chunks(d)) {
                    let r = self.inverse_rms(x);
                    for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
                        *y = x * r * w;
                    }
                }
            });
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = weight.dim(0)?;
        let rows = x.elem_count() / d;
        // One pass gives both gradients: rows 0..rows are dx, the extra last row is dw.
        let both = x.apply_op3_no_bwd(
            &weight.contiguous()?,
            &grad.contiguous()?,
            &RmsNormBackward { forward: self },
        )?;
        let dx = both.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = both.narrow(0, rows, 1)?.reshape(d)?;
        Ok((Some(dx), Some(dw)))
    }
}

/// `(x, w, dy)` → `(rows + 1, d)`: dx, then dw in the last row.
struct RmsNormBackward<'a> {
    forward: &'a RmsNorm,
}

impl CustomOp3 for RmsNormBackward<'_> {
    fn name(&self) -> &'static str {
        "fused-rms-norm-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (x, w, g) = (
            f32_data(xs, xl, name)?,
            f32_data(ws, wl, name)?,
            f32_data(gs, gl, name)?,
        );
        let d = w.len();
        let rows = x.len() / d;
        let mut out = vec![0f32; x.len() + d];
        let (dx, dw) = out.split_at_mut(x.len());
        // dx = r·(g⊙w) − x·r³/d·Σ(g⊙w⊙x);  dw = Σ_rows g⊙x·r.
        let partial_dw: Vec<Vec<f32>> = dx
            .par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .zip(g.par_chunks(d * ROWS_PER_TASK))
            .map(|((dx, x), g)| {
                let mut dw = vec![0f32; d];
                for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                    let r = self.forward.inverse_rms(x);
                    let dot: f32 = x.iter().zip(g).zip(w).map(|((x, g), w)| x * g * w).sum();
                    let c = dot * r * r * r / d as f32;
                    for (j, dx) in dx.iter_mut().enumerate() {
                        *dx = r * g[j] * w[j] - c * x[j];
                        dw[j] += g[j] * x[j] * r;
                    }
                }
                dw
            })
            .collect();
        for part in &partial_dw {
            for (total, p) in dw.iter_mut().zip(part) {
                *total += p;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, d))))
    }
}
