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
pub use cross_entropy::linear_cross_entropy;
pub use rms_norm::rms_norm;
pub use swiglu::swiglu;

use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result};
use gemm::Parallelism;

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

/// Bytes of forward-pass scratch (attention weights, output-layer probabilities) one fused op
/// may keep for its backward pass; above it, backward recomputes them. The results are the same
/// bytes either way.
static KEEP_LIMIT_BYTES: AtomicUsize = AtomicUsize::new(256 << 20);

/// Sets how much forward-pass scratch one fused op may keep for backward (0: always recompute).
pub fn set_keep_limit(bytes: usize) {
    KEEP_LIMIT_BYTES.store(bytes, Ordering::Relaxed);
}

fn within_keep_limit(bytes: usize) -> bool {
    bytes <= KEEP_LIMIT_BYTES.load(Ordering::Relaxed)
}

/// Rows handled by one rayon task in the row-wise kernels. Fixed, so that the blocks (and the
/// order in which their partial sums are added) do not depend on the thread count.
const ROWS_PER_TASK: usize = 32;

/// The f32 values of a contiguous input (the wrappers make inputs contiguous before the op).
fn f32_data<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    match storage {
        CpuStorage::F32(data) => contiguous(data, layout, op),
        other => bail!("{op}: expected an f32 tensor, found {:?}", other.dtype()),
    }
}

fn u32_data<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [u32]> {
    match storage {
        CpuStorage::U32(data) => contiguous(data, layout, op),
        other => bail!("{op}: expected a u32 tensor, found {:?}", other.dtype()),
    }
}

fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: input is not contiguous"),
    }
}

/// `max + ln Σ exp(v − max)` of one row. The sums run in eight lanes, so they vectorise.
pub(crate) fn log_sum_exp(row: &[f32]) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|v| exp(v - max)).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += exp(v - max);
        }
    }
    max + (lanes.iter().sum::<f32>() + tail).ln()
}

/// `eˣ` to about one unit in the last place, written so that loops over slices vectorise (the
/// C library's `expf` is a call per element, and took a tenth of a training step).
/// `x = k·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 split in two parts so `r` is exact), then a
/// degree-6 Taylor polynomial for `eʳ` (error below 2·10⁻⁷) scaled by `2ᵏ` through the exponent
/// bits. Results below `2⁻¹²⁶` flush to that value; `−∞` gives it too, which the callers only
/// ever add to a sum of at least one.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.33, 88.72);
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
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

/// A matrix operand: first element and row / column strides, in elements.
#[derive(Clone, Copy)]
struct Operand {
    ptr: *const f32,
    row_stride: usize,
    col_stride: usize,
}

impl Operand {
    fn rows(ptr: *const f32, row_stride: usize) -> Self {
        Operand {
            ptr,
            row_stride,
            col_stride: 1,
        }
    }

    fn transposed(self) -> Self {
        Operand {
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `out (m×n, row stride out_rs) = scale · a (m×k) · b (k×n)`, or `+=` when `accumulate`;
/// single-threaded (the callers parallelise over heads or row groups).
///
/// # Safety
/// The operands must cover the elements their strides address, and `out` must not overlap them.
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    out: *mut f32,
    out_rs: usize,
    accumulate: bool,
    a: Operand,
    b: Operand,
    scale: f32,
) {
    gemm::gemm(
        m,
        n,
        k,
        out,
        1,
        out_rs as isize,
        accumulate,
        a.ptr,
        a.col_stride as isize,
        a.row_stride as isize,
        b.ptr,
        b.col_stride as isize,
        b.row_stride as isize,
        1.0,
        scale,
        false,
        false,
        false,
        Parallelism::None,
    );
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

#[cfg(test)]
mod tests {
    #[test]
    fn exp_is_within_a_few_ulp_of_the_library() {
        let mut worst = 0f32;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3 + 0.000_37;
            let (ours, library) = (super::exp(x), x.exp());
            worst = worst.max(((ours - library) / library).abs());
        }
        assert!(worst < 5e-7, "relative error {worst:e}");
        assert_eq!(super::exp(0.0), 1.0);
        assert!(super::exp(f32::NEG_INFINITY) < 1e-37);
    }
}
