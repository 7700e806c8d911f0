//! Fused CPU kernels with their backward passes, as candle custom ops.
//!
//! candle builds the model from many small tensor ops, each of which allocates its output and
//! walks memory once; at this model size that overhead, not the matrix products, takes most of
//! a training step. Each kernel here does in one pass over the data what the composed ops in
//! [`crate::model`] do in five to twenty, and its `bwd` computes every input's gradient in one
//! more pass. The composed ops stay as the reference (tests compare the two) and run on devices
//! the kernels have no code for.
//!
//! Work is split over rayon in blocks whose boundaries depend only on the shapes, and every
//! reduction adds its parts in a fixed order, so results are identical for any thread count.

mod attention;
mod cross_entropy;
mod rms_norm;
mod swiglu;

pub use attention::{causal_attention, RopeTables};
pub use cross_entropy::cross_entropy;
pub use rms_norm::rms_norm;
pub use swiglu::swiglu;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result};

/// Which implementation of the model's building blocks a [`crate::Llama`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// The custom ops of this module (CPU only).
    Fused,
    /// Compositions of candle's built-in differentiable ops (any device; the reference).
    Composed,
}

impl Kernels {
    /// Fused on the CPU, composed elsewhere (the fused ops have no GPU code).
    pub fn for_device(device: &candle_core::Device) -> Self {
        if device.is_cpu() {
            Kernels::Fused
        } else {
            Kernels::Composed
        }
    }
}

/// Rows handled by one rayon task in the row-wise kernels. Fixed, so that the blocks (and the
/// order in which their partial sums are added) do not depend on the thread count.
const ROWS_PER_TASK: usize = 32;

/// The f32 values of a contiguous input (the wrappers make inputs contiguous before the op).
fn f32_data<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: expected an f32 tensor, found {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: input is not contiguous"),
    }
}

fn u32_data<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [u32]> {
    let CpuStorage::U32(data) = storage else {
        bail!("{op}: expected a u32 tensor, found {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: input is not contiguous"),
    }
}

/// `max + ln Σ exp(v − max)` of one row.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

/// A raw pointer that rayon tasks may share: each task writes a region no other task touches.
#[derive(Clone, Copy)]
struct DisjointWrites(*mut f32);

// Safety: every user writes through it only to regions that no other task reads or writes.
unsafe impl Send for DisjointWrites {}
unsafe impl Sync for DisjointWrites {}

impl DisjointWrites {
    /// The element at `offset` (a method, so closures capture the whole `Send` wrapper).
    ///
    /// # Safety
    /// `offset` must lie inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// Sum of squares of every element, accumulated in f64 over fixed blocks added in order.
pub fn sum_of_squares(values: &[f32]) -> f64 {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 14;
    let partials: Vec<f64> = values
        .par_chunks(BLOCK)
        .map(|block| block.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    partials.iter().sum()
}
