//! Mean cross-entropy from logits: log-softmax and the target's pick in one pass per row, and
//! the gradient `(softmax − onehot) / n` in one more.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{f32_data, log_sum_exp, u32_data, ROWS_PER_TASK};

/// Mean over rows of `−log softmax(logits)[target]`, for `logits (n, vocab)` and u32
/// `targets (n)`; a scalar.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, CrossEntropy)
}

struct CrossEntropy;

fn check_target(target: u32, vocab: usize) -> Result<usize> {
    let t = target as usize;
    if t >= vocab {
        candle_core::bail!("cross-entropy: target {t} outside the vocabulary of {vocab}");
    }
    Ok(t)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let logits = f32_data(ls, ll, self.name())?;
        let targets = u32_data(ts, tl, self.name())?;
        let vocab = logits.len() / targets.len().max(1);
        let losses: Vec<f32> = logits
            .par_chunks(vocab)
            .zip(targets.par_iter())
            .with_min_len(ROWS_PER_TASK)
            .map(|(row, &t)| Ok(log_sum_exp(row) - row[check_target(t, vocab)?]))
            .collect::<Result<_>>()?;
        let mean = losses.iter().map(|&l| f64::from(l)).sum::<f64>() / losses.len() as f64;
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d_logits =
            logits.apply_op3_no_bwd(targets, &grad.contiguous()?, &CrossEntropyBackward)?;
        Ok((Some(d_logits), None))
    }
}

/// `(logits, targets, d_loss)` → `d_logits`.
struct CrossEntropyBackward;

impl CustomOp3 for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "fused-cross-entropy-backward"
    }

    fn cpu_fwd(
        &self,
        ls: &CpuStorage,
        ll: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let logits = f32_data(ls, ll, self.name())?;
        let targets = u32_data(ts, tl, self.name())?;
        let scale = f32_data(gs, gl, self.name())?[0] / targets.len() as f32;
        let vocab = logits.len() / targets.len().max(1);
        let mut out = vec![0f32; logits.len()];
        out.par_chunks_mut(vocab)
            .zip(logits.par_chunks(vocab))
            .zip(targets.par_iter())
            .with_min_len(ROWS_PER_TASK)
            .try_for_each(|((out, row), &t)| {
                let lse = log_sum_exp(row);
                for (o, v) in out.iter_mut().zip(row) {
                    *o = (v - lse).exp() * scale;
                }
                out[check_target(t, vocab)?] -= scale;
                Ok::<_, candle_core::Error>(())
            })?;
        Ok((CpuStorage::F32(out), ll.shape().clone()))
    }
}
