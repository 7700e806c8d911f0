//! The machine's f32 matmul rate through candle (the reference for bench/train.sh's FLOP/s
//! fraction): `cargo run --release -p factlab-model --example matmul_rate -- [N] [REPEATS]`.

use std::time::Instant;

use candle_core::{Device, Tensor};

fn main() -> candle_core::Result<()> {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let n = args.next().unwrap_or(1024);
    let repeats = args.next().unwrap_or(20);
    let a = Tensor::ones((n, n), candle_core::DType::F32, &Device::Cpu)?;
    let b = (&a * 0.5)?;
    a.matmul(&b)?; // warm-up
    let started = Instant::now();
    for _ in 0..repeats {
        a.matmul(&b)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let flops = 2.0 * (n as f64).powi(3) * repeats as f64;
    println!("matmul_gflops {:.1}", flops / seconds / 1e9);
    Ok(())
}
