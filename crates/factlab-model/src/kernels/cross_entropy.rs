//! The output layer and the mean cross-entropy in one op: the logits are made a group of rows
//! at a time, never as one `(rows, vocab)` tensor; each group's softmax is kept for backward
//! while all of them fit in the keep limit ([`super::set_keep_limit`]) (otherwise backward makes them again), and the
//! gradients of the hidden states and of the output matrix come out of one more pass.
//! At these model sizes the logits are the largest activation; without this, autograd would
//! also allocate and add their gradient several times over.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{exp, f32_data, log_sum_exp, matmul, u32_data, within_keep_limit, Operand};

/// Mean over rows of `−log softmax(x · wᵀ)[target]`, for hidden states `x (n, d)`, the output
/// matrix `w (vocab, d)` (Hugging Face layout) and u32 `targets (n)`; a scalar.
pub fn linear_cross_entropy(x: &Tensor, w: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let op = LinearCrossEntropy {
        kept: Mutex::new(None),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &targets.contiguous()?, op)
}

/// Rows per task. Fixed, so that the partial gradients of `w` are added in the same order for
/// any thread count.
const GROUP: usize = 128;

struct LinearCrossEntropy {
    /// The softmax of each group's logits from the forward pass, for backward.
    kept: Mutex<Option<Vec<Vec<f32>>>>,
}

struct Inputs<'a> {
    x: &'a [f32],
    w: &'a [f32],
    targets: &'a [u32],
    d: usize,
    vocab: usize,
}

impl<'a> Inputs<'a> {
    fn read(
        name: &str,
        (xs, xl): (&'a CpuStorage, &Layout),
        (ws, wl): (&'a CpuStorage, &Layout),
        targets: &'a [u32],
    ) -> Result<Self> {
        let (x, w) = (f32_data(xs, xl, name)?, f32_data(ws, wl, name)?);
        let (vocab, d) = wl.shape().dims2()?;
        if xl.shape().dims2()? != (targets.len(), d) {
            candle_core::bail!(
                "{name}: hidden states {:?} do not match {} targets and width {d}",
                xl.dims(),
                targets.len()
            );
        }
        if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
            candle_core::bail!("{name}: target {t} outside the vocabulary of {vocab}");
        }
        Ok(Inputs {
            x,
            w,
            targets,
            d,
            vocab,
        })
    }

    /// The logits of rows `first..first + rows` into `out (rows, vocab)`.
    fn logits(&self, first: usize, rows: usize, out: &mut [f32]) {
        let x = Operand::rows(self.x[first * self.d..].as_ptr(), self.d);
        let w_t = Operand::rows(self.w.as_ptr(), self.d).transposed();
        // Safety: x rows first..first+rows and all of w lie inside their slices; `out` holds
        // rows × vocab.
        unsafe {
            matmul(
                (rows, self.vocab, self.d),
                out.as_mut_ptr(),
                self.vocab,
                false,
                x,
                w_t,
                1.0,
            )
        };
    }

    fn groups(&self) -> impl IndexedParallelIterator<Item = (usize, usize)> {
        let n = self.targets.len();
        (0..n.div_ceil(GROUP))
            .into_par_iter()
            .map(move |g| (g * GROUP, GROUP.min(n - g * GROUP)))
    }
}

/// `row ← exp(row − lse)`: the softmax of a row of logits whose log-sum-exp is `lse`.
fn softmax_in_place(row: &mut [f32], lse: f32) {
    for v in row.iter_mut() {
        *v = exp(*v - lse);
    }
}

impl CustomOp3 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "fused-linear-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let targets = u32_data(ts, tl, self.name())?;
        let inputs = Inputs::read(self.name(), (xs, xl), (ws, wl), targets)?;
        let keep = within_keep_limit(inputs.targets.len() * inputs.vocab * 4);
        let (losses, probabilities): (Vec<f64>, Vec<Vec<f32>>) = inputs
            .groups()
            .map(|(first, rows)| {
                let mut logits = vec![0f32; rows * inputs.vocab];
                inputs.logits(first, rows, &mut logits);
                let mut loss = 0.0;
                for (row, &t) in logits
                    .chunks_mut(inputs.vocab)
                    .zip(&inputs.targets[first..first + rows])
                {
                    let lse = log_sum_exp(row);
                    loss += f64::from(lse - row[t as usize]);
                    if keep {
                        softmax_in_place(row, lse);
                    }
                }
                (loss, if keep { logits } else { Vec::new() })
            })
            .unzip();
        if keep {
            *self.kept.lock().expect("not poisoned") = Some(probabilities);
        }
        let mean = losses.iter().sum::<f64>() / inputs.targets.len() as f64;
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        targets: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = x.dim(0)?;
        let backward = LinearCrossEntropyBackward {
            targets: targets.to_vec1::<u32>()?,
            scale: grad.to_scalar::<f32>()? / n as f32,
            probabilities: Mutex::new(self.kept.lock().expect("not poisoned").take()),
        };
        // Rows 0..n of the result are dx, the rest dw.
        let both = x.apply_op2_no_bwd(w, &backward)?;
        let dx = both.narrow(0, 0, n)?;
        let dw = both.narrow(0, n, w.dim(0)?)?;
        Ok((Some(dx), Some(dw), None))
    }
}

/// `(x, w)` → `[dx; dw]`, `(n + vocab, d)`, for the targets and the loss gradient over `n`.
struct LinearCrossEntropyBackward {
    targets: Vec<u32>,
    scale: f32,
    /// Each group's softmax kept by the forward pass, or `None` to make it again.
    probabilities: Mutex<Option<Vec<Vec<f32>>>>,
}

impl CustomOp2 for LinearCrossEntropyBackward {
    fn name(&self) -> &'static str {
        "fused-linear-cross-entropy-backward"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let inputs = Inputs::read(self.name(), (xs, xl), (ws, wl), &self.targets)?;
        let (d, vocab, n, scale) = (inputs.d, inputs.vocab, self.targets.len(), self.scale);
        let mut out = vec![0f32; (n + vocab) * d];
        let (dx, dw) = out.split_at_mut(n * d);
        let kept: Vec<Option<Vec<f32>>> =
            match self.probabilities.lock().expect("not poisoned").take() {
                Some(groups) => groups.into_iter().map(Some).collect(),
                None => (0..n.div_ceil(GROUP)).map(|_| None).collect(),
            };
        let partial_dw: Vec<Vec<f32>> = dx
            .par_chunks_mut(GROUP * d)
            .zip(inputs.groups())
            .zip(kept)
            .map(|((dx, (first, rows)), kept)| {
                let mut d_logits = kept.unwrap_or_else(|| {
                    let mut logits = vec![0f32; rows * vocab];
                    inputs.logits(first, rows, &mut logits);
                    for row in logits.chunks_mut(vocab) {
                        let lse = log_sum_exp(row);
                        softmax_in_place(row, lse);
                    }
                    logits
                });
                for (row, &t) in d_logits
                    .chunks_mut(vocab)
                    .zip(&inputs.targets[first..first + rows])
                {
                    for v in row.iter_mut() {
                        *v *= scale;
                    }
                    row[t as usize] -= scale;
                }
                let mut dw = vec![0f32; vocab * d];
                let g = Operand::rows(d_logits.as_ptr(), vocab);
                let w = Operand::rows(inputs.w.as_ptr(), d);
                let x = Operand::rows(inputs.x[first * d..].as_ptr(), d);
                // Safety: every operand lies inside its buffer; dx is this group's rows.
                unsafe {
                    matmul((rows, d, vocab), dx.as_mut_ptr(), d, false, g, w, 1.0);
                    matmul(
                        (vocab, d, rows),
                        dw.as_mut_ptr(),
                        d,
                        false,
                        g.transposed(),
                        x,
                        1.0,
                    );
                }
                dw
            })
            .collect();
        for part in &partial_dw {
            for (total, p) in dw.iter_mut().zip(part) {
                *total += p;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n + vocab, d))))
    }
}
