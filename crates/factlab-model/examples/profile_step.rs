//! Where a training step's time goes: times one whole step (forward, backward, clipping norm,
//! AdamW) of a model config at a batch shape, then each part of it alone at the shapes and counts
//! the model uses, and prints a Markdown table of milliseconds per step and shares. What the
//! parts do not cover (residual adds, stacking the projection weights, gradient-store additions,
//! graph bookkeeping) is the remainder.
//!
//! usage: cargo run --release -p factlab-model --example profile_step -- \
//!            MODEL_TOML [BATCH] [SEQ] [VOCAB] [fused|composed] [STEPS]
//! e.g.   … -- pipelines/models/tiny.toml 12 192 2048 fused 10
//! FACTLAB_PLAIN_RUNTIME=1 skips `prepare_cpu_runtime`; FACTLAB_KEEP_LIMIT=0 makes the kernels
//! recompute their forward scratch in backward (`kernels::set_keep_limit`).

use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use factlab_model::kernels::{self, RopeTables};
use factlab_model::{
    composed, global_norm, ids_tensor, AdamW, AdamWConfig, Kernels, Llama, ModelConfig, Params,
};
use factlab_rng::Rng;

type Part = Box<dyn Fn(&[Tensor]) -> Tensor>;

fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// Seconds of one forward and backward of `op` on fresh variables of `shapes` (best of `reps`).
fn time_part(shapes: &[Vec<usize>], op: &Part, reps: usize) -> f64 {
    let mut rng = Rng::new(1);
    let vars: Vec<Var> = shapes
        .iter()
        .map(|s| Var::from_tensor(&random(s, &mut rng)).unwrap())
        .collect();
    let inputs: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let mut best = f64::INFINITY;
    for _ in 0..reps + 1 {
        let started = Instant::now();
        let out = op(&inputs);
        // The gradient arriving at the output is all ones: `sum` costs one pass.
        let grads = out.sum_all().unwrap().backward().unwrap();
        drop(grads);
        best = best.min(started.elapsed().as_secs_f64());
    }
    best
}

fn fail(message: &str) -> ! {
    eprintln!("profile_step: {message}");
    std::process::exit(2)
}

/// A whole number argument of at least `min`.
fn number(name: &str, text: &str, min: usize) -> usize {
    match text.parse::<usize>() {
        Ok(n) if n >= min => n,
        _ => fail(&format!(
            "{name} `{text}`: expected a whole number of at least {min}"
        )),
    }
}

fn linear(x: &Tensor, w: &Tensor) -> Tensor {
    x.matmul(&w.t().unwrap()).unwrap()
}

fn main() {
    if std::env::var_os("FACTLAB_PLAIN_RUNTIME").is_none() {
        factlab_model::prepare_cpu_runtime();
    }
    if let Ok(text) = std::env::var("FACTLAB_KEEP_LIMIT") {
        kernels::set_keep_limit(number("FACTLAB_KEEP_LIMIT", &text, 0));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let mut config =
        match ModelConfig::load_toml(std::path::Path::new(&arg(0, "pipelines/models/tiny.toml"))) {
            Ok(config) => config,
            Err(e) => fail(&e.to_string()),
        };
    let batch = number("BATCH", &arg(1, "12"), 1);
    let seq = number("SEQ", &arg(2, "192"), 2);
    let vocab = number("VOCAB", &arg(3, "2048"), 2);
    let kernels = match arg(4, "fused").as_str() {
        "composed" => Kernels::Composed,
        "fused" => Kernels::Fused,
        other => fail(&format!("kernels `{other}`: expected fused or composed")),
    };
    let steps = number("STEPS", &arg(5, "8"), 1);
    if seq > config.max_position_embeddings {
        fail(&format!(
            "SEQ {seq} is longer than the model's {} positions",
            config.max_position_embeddings
        ));
    }
    config.vocab_size = Some(vocab);
    let device = Device::Cpu;

    // The whole step, as `train` runs it.
    let params = Params::init(&config, 1, &device).unwrap();
    let model = Llama::with_kernels(&config, &params, true, kernels).unwrap();
    let mut optimizer = AdamW::with_kernels(AdamWConfig::default(), &params, kernels).unwrap();
    let mut rng = Rng::new(2);
    let rows: Vec<Vec<u32>> = (0..batch)
        .map(|_| (0..seq).map(|_| rng.below(vocab) as u32).collect())
        .collect();
    let ids = ids_tensor(&rows, &device).unwrap();
    let mut step_seconds = Vec::new();
    for _ in 0..steps + 1 {
        let started = Instant::now();
        let loss = model.loss(&ids).unwrap();
        let grads = params.gradients(&loss.backward().unwrap()).unwrap();
        let norm = global_norm(&grads).unwrap();
        optimizer
            .update(&params, &grads, (1.0 / norm).min(1.0), 1e-4)
            .unwrap();
        step_seconds.push(started.elapsed().as_secs_f64());
    }
    step_seconds.remove(0);
    step_seconds.sort_by(f64::total_cmp);
    let step = step_seconds[step_seconds.len() / 2];

    let (d, f, layers, heads) = (
        config.hidden_size,
        config.intermediate_size,
        config.num_layers,
        config.num_heads,
    );
    let head_dim = config.head_dim();
    let t = seq - 1;
    let n = batch * t;
    let rope = Arc::new(RopeTables::new(
        head_dim,
        config.max_position_embeddings,
        10_000.0,
    ));
    let tables = Arc::new(composed::AttentionTables::new(&rope, &device).unwrap());
    let targets = Tensor::from_vec(
        (0..n).map(|i| (i % vocab) as u32).collect::<Vec<_>>(),
        n,
        &device,
    )
    .unwrap();
    let fused = kernels == Kernels::Fused;
    let mut parts: Vec<(String, f64)> = Vec::new();
    let reps = 3;
    let mut add = |name: &str, count: usize, shapes: Vec<Vec<usize>>, op: Part| {
        parts.push((name.into(), count as f64 * time_part(&shapes, &op, reps)));
    };
    add(
        "matmuls: q/k/v, o, gate/up, down projections",
        layers,
        vec![
            vec![n, d],
            vec![3 * d, d],
            vec![d, d],
            vec![2 * f, d],
            vec![n, f],
            vec![d, f],
        ],
        Box::new(|x| {
            let total = [(0, 1), (0, 2), (0, 3), (4, 5)]
                .iter()
                .map(|&(i, w)| linear(&x[i], &x[w]).sum_all().unwrap())
                .reduce(|a, b| (a + b).unwrap());
            total.unwrap()
        }),
    );
    if fused {
        let rope = rope.clone();
        add(
            "attention core: rotary, q·kᵀ, mask, softmax, ·v (one fused kernel)",
            layers,
            vec![vec![batch, t, 3 * d]],
            Box::new(move |x| kernels::causal_attention(&x[0], heads, &rope).unwrap()),
        );
    } else {
        let tables2 = tables.clone();
        add(
            "attention core (composed: split heads, rotary, q·kᵀ, mask, softmax, ·v)",
            layers,
            vec![vec![batch, t, 3 * d]],
            Box::new(move |x| composed::causal_attention(&x[0], heads, &tables2).unwrap()),
        );
        add(
            "  of which: scale, mask and softmax",
            layers,
            vec![vec![batch, heads, t, t]],
            Box::new(move |x| {
                let mask = Tensor::from_vec(
                    (0..t * t)
                        .map(|i| {
                            if i % t <= i / t {
                                0f32
                            } else {
                                f32::NEG_INFINITY
                            }
                        })
                        .collect::<Vec<_>>(),
                    (t, t),
                    &Device::Cpu,
                )
                .unwrap();
                composed::softmax(&(&x[0] * 0.1).unwrap().broadcast_add(&mask).unwrap()).unwrap()
            }),
        );
    }
    add(
        "norms (RMSNorm)",
        2 * layers + 1,
        vec![vec![batch, t, d], vec![d]],
        Box::new(move |x| match fused {
            true => kernels::rms_norm(&x[0], &x[1], 1e-5).unwrap(),
            false => composed::rms_norm(&x[0], &x[1], 1e-5).unwrap(),
        }),
    );
    add(
        "MLP activation (SwiGLU)",
        layers,
        vec![vec![batch, t, 2 * f]],
        Box::new(move |x| match fused {
            true => kernels::swiglu(&x[0]).unwrap(),
            false => composed::swiglu(&x[0]).unwrap(),
        }),
    );
    add(
        match fused {
            true => "output layer and cross-entropy (one fused kernel, matmuls included)",
            false => "output layer (matmul) and cross-entropy",
        },
        1,
        vec![vec![n, d], vec![vocab, d]],
        Box::new(move |x| match fused {
            true => kernels::linear_cross_entropy(&x[0], &x[1], &targets).unwrap(),
            false => composed::cross_entropy(&linear(&x[0], &x[1]), &targets).unwrap(),
        }),
    );
    // The optimizer and the clipping norm, on gradients of the model's shapes.
    let grads: Vec<Tensor> = params
        .vars
        .iter()
        .map(|v| random(v.dims(), &mut rng))
        .collect();
    let mut best = f64::INFINITY;
    for _ in 0..reps + 1 {
        let started = Instant::now();
        let norm = global_norm(&grads).unwrap();
        optimizer
            .update(&params, &grads, (1.0 / norm).min(1.0), 1e-4)
            .unwrap();
        best = best.min(started.elapsed().as_secs_f64());
    }
    parts.push(("optimizer (clipping norm + AdamW)".into(), best));

    let tokens = batch * seq;
    println!(
        "model {} (d {d}, f {f}, L {layers}, heads {heads}, vocab {vocab}), batch {batch} × {seq}, kernels {kernels:?}",
        arg(0, "")
    );
    println!(
        "whole step: {:.1} ms (median of {steps}), {:.0} tokens/s\n",
        step * 1e3,
        tokens as f64 / step
    );
    println!("| part | ms per step | share |\n|---|---:|---:|");
    let mut covered = 0.0;
    for (name, seconds) in &parts {
        if !name.starts_with("  ") {
            covered += seconds;
        }
        println!(
            "| {name} | {:.1} | {:.0} % |",
            seconds * 1e3,
            100.0 * seconds / step
        );
    }
    let rest = step - covered;
    println!(
        "| backward bookkeeping and the rest (residual adds, weight stacking, embedding, gradient sums) | {:.1} | {:.0} % |",
        rest * 1e3,
        100.0 * rest / step
    );
}
