//! Every fused kernel against its composed reference: the forward value and the gradient of
//! every input, at several shapes including odd sizes and sizes that split into several tasks;
//! and the fused results are the same bytes for any thread count.

use crate::common::values;

use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use factlab_model::kernels::{self, RopeTables};
use factlab_model::{composed, AdamW, AdamWConfig, Kernels, ModelConfig, Params};
use factlab_rng::Rng;

const TOLERANCE: f64 = 1e-5;

fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// Largest absolute difference relative to the largest magnitude of the reference.
fn assert_close(what: &str, fused: &Tensor, reference: &Tensor) {
    assert_eq!(fused.dims(), reference.dims(), "{what}: shapes differ");
    let (a, b) = (values(fused), values(reference));
    let scale = b.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max(f64::from((x - y).abs())));
    assert!(scale > 0.0, "{what}: the reference is all zeros");
    assert!(
        diff <= TOLERANCE * scale,
        "{what}: max difference {diff:e} against magnitude {scale:e}"
    );
}

/// Runs `op` on fresh variables holding `inputs`, then back-propagates `sum(output ⊙ r)` for a
/// fixed random `r`: returns the output and the gradient of every input.
fn value_and_gradients(
    inputs: &[Tensor],
    op: impl Fn(&[Tensor]) -> Tensor,
    seed: u64,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let out = op(&tensors);
    let r = random(out.dims(), &mut Rng::new(seed));
    let grads = (&out * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gradients = vars
        .iter()
        .map(|v| grads.get(v.as_tensor()).expect("a gradient").clone())
        .collect();
    (out, gradients)
}

fn compare(
    what: &str,
    inputs: &[Tensor],
    fused: impl Fn(&[Tensor]) -> Tensor,
    reference: impl Fn(&[Tensor]) -> Tensor,
) {
    let (out_f, grads_f) = value_and_gradients(inputs, &fused, 99);
    let (out_r, grads_r) = value_and_gradients(inputs, &reference, 99);
    assert_close(&format!("{what} forward"), &out_f, &out_r);
    for (i, (gf, gr)) in grads_f.iter().zip(&grads_r).enumerate() {
        assert_close(&format!("{what} gradient of input {i}"), gf, gr);
    }
}

/// The fused op's output and gradients as bytes, computed on a pool of `threads` threads.
fn fused_bits(
    threads: usize,
    inputs: &[Tensor],
    op: impl Fn(&[Tensor]) -> Tensor + Sync,
) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let (out, grads) = value_and_gradients(inputs, &op, 5);
        std::iter::once(out)
            .chain(grads)
            .flat_map(|t| values(&t))
            .map(f32::to_bits)
            .collect()
    })
}

fn assert_thread_count_invariant(
    what: &str,
    inputs: &[Tensor],
    op: impl Fn(&[Tensor]) -> Tensor + Sync,
) {
    let one = fused_bits(1, inputs, &op);
    for threads in [2, 3] {
        assert!(
            one == fused_bits(threads, inputs, &op),
            "{what}: {threads} threads give other bytes than 1"
        );
    }
}

#[test]
fn rms_norm_matches_the_composed_reference() {
    let mut rng = Rng::new(1);
    for shape in [vec![1, 1, 3], vec![2, 5, 7], vec![70, 64], vec![3, 1, 130]] {
        let d = *shape.last().unwrap();
        let x = random(&shape, &mut rng);
        let w = random(&[d], &mut rng).affine(0.3, 1.0).unwrap();
        let what = format!("rms_norm {shape:?}");
        compare(
            &what,
            &[x.clone(), w.clone()],
            |t| kernels::rms_norm(&t[0], &t[1], 1e-5).unwrap(),
            |t| composed::rms_norm(&t[0], &t[1], 1e-5).unwrap(),
        );
        assert_thread_count_invariant(&what, &[x, w], |t| {
            kernels::rms_norm(&t[0], &t[1], 1e-5).unwrap()
        });
    }
}

#[test]
fn swiglu_matches_the_composed_reference() {
    let mut rng = Rng::new(2);
    for shape in [vec![1, 2], vec![4, 6], vec![3, 37, 26], vec![65, 100]] {
        let x = (random(&shape, &mut rng) * 2.0).unwrap();
        let what = format!("swiglu {shape:?}");
        compare(
            &what,
            std::slice::from_ref(&x),
            |t| kernels::swiglu(&t[0]).unwrap(),
            |t| composed::swiglu(&t[0]).unwrap(),
        );
        assert_thread_count_invariant(&what, &[x], |t| kernels::swiglu(&t[0]).unwrap());
    }
}

#[test]
fn output_layer_cross_entropy_matches_the_composed_reference() {
    let mut rng = Rng::new(3);
    // (rows, width, vocab): one partial group, several groups with a partial last one.
    for (rows, d, vocab) in [(1, 2, 3), (37, 5, 11), (300, 16, 257)] {
        let x = random(&[rows, d], &mut rng);
        let w = random(&[vocab, d], &mut rng);
        let targets: Vec<u32> = (0..rows).map(|_| rng.below(vocab) as u32).collect();
        let targets = Tensor::new(targets, &Device::Cpu).unwrap();
        let what = format!("linear cross-entropy {rows}×{d}→{vocab}");
        compare(
            &what,
            &[x.clone(), w.clone()],
            |t| kernels::linear_cross_entropy(&t[0], &t[1], &targets).unwrap(),
            |t| {
                let logits = t[0].matmul(&t[1].t().unwrap()).unwrap();
                composed::cross_entropy(&logits, &targets).unwrap()
            },
        );
        assert_thread_count_invariant(&what, &[x, w], |t| {
            kernels::linear_cross_entropy(&t[0], &t[1], &targets).unwrap()
        });
    }
}

#[test]
fn causal_attention_matches_the_composed_reference() {
    let mut rng = Rng::new(4);
    // (batch, seq, heads, head_dim)
    for (batch, seq, heads, head_dim) in [(1, 1, 1, 2), (2, 7, 3, 4), (3, 33, 2, 6), (2, 64, 4, 16)]
    {
        let hidden = heads * head_dim;
        let rope = RopeTables::new(head_dim, seq + 5, 10_000.0);
        let tables = composed::AttentionTables::new(&rope, &Device::Cpu).unwrap();
        let rope = Arc::new(rope);
        let qkv = random(&[batch, seq, 3 * hidden], &mut rng);
        let what = format!("attention b{batch} s{seq} h{heads} d{head_dim}");
        compare(
            &what,
            std::slice::from_ref(&qkv),
            |t| kernels::causal_attention(&t[0], heads, &rope).unwrap(),
            |t| composed::causal_attention(&t[0], heads, &tables).unwrap(),
        );
        assert_thread_count_invariant(&what, &[qkv], |t| {
            kernels::causal_attention(&t[0], heads, &rope).unwrap()
        });
    }
}

#[test]
fn attention_never_looks_ahead() {
    let (seq, heads, head_dim) = (9, 2, 4);
    let rope = Arc::new(RopeTables::new(head_dim, seq, 10_000.0));
    let mut rng = Rng::new(5);
    let qkv = random(&[1, seq, 3 * heads * head_dim], &mut rng);
    let first = kernels::causal_attention(&qkv, heads, &rope).unwrap();
    // Changing the last position must leave every earlier output unchanged.
    let changed = Tensor::cat(
        &[
            qkv.narrow(1, 0, seq - 1).unwrap(),
            random(&[1, 1, 3 * heads * head_dim], &mut rng),
        ],
        1,
    )
    .unwrap();
    let second = kernels::causal_attention(&changed, heads, &rope).unwrap();
    let early = |t: &Tensor| values(&t.narrow(1, 0, seq - 1).unwrap());
    assert_eq!(early(&first), early(&second));
    assert_ne!(values(&first), values(&second));
}

#[test]
fn fused_adamw_matches_the_tensor_reference() {
    let config = ModelConfig {
        hidden_size: 12,
        intermediate_size: 20,
        num_layers: 1,
        num_heads: 3,
        vocab_size: Some(17),
        max_position_embeddings: 8,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: true,
        initializer_range: 0.02,
        bos_token_id: None,
        eos_token_id: None,
    };
    let fused_params = Params::init(&config, 3, &Device::Cpu).unwrap();
    let reference_params = Params::init(&config, 3, &Device::Cpu).unwrap();
    let adamw = AdamWConfig::default();
    let mut fused = AdamW::with_kernels(adamw.clone(), &fused_params, Kernels::Fused).unwrap();
    let mut reference = AdamW::with_kernels(adamw, &reference_params, Kernels::Composed).unwrap();
    let mut rng = Rng::new(6);
    for (step, grad_scale) in [(0, 1.0), (1, 0.37), (2, 1.0)] {
        let grads: Vec<Tensor> = fused_params
            .vars
            .iter()
            .map(|v| random(v.dims(), &mut rng))
            .collect();
        let lr = 1e-3 * f64::from(step + 1);
        fused.update(&fused_params, &grads, grad_scale, lr).unwrap();
        reference
            .update(&reference_params, &grads, grad_scale, lr)
            .unwrap();
    }
    for ((name, a), b) in fused_params
        .names
        .iter()
        .zip(&fused_params.vars)
        .zip(&reference_params.vars)
    {
        assert_close(&format!("adamw {name}"), a.as_tensor(), b.as_tensor());
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fused.save(&fused_params, &a).unwrap();
    reference.save(&reference_params, &b).unwrap();
    let (a, b) = (
        factlab_model::load_tensors(&a, &Device::Cpu).unwrap(),
        factlab_model::load_tensors(&b, &Device::Cpu).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert_eq!(t.dtype(), DType::F32);
        assert_close(&format!("moment {name}"), t, &b[name]);
    }
}

#[test]
fn the_whole_model_gives_the_same_loss_and_gradients_with_either_kernels() {
    let config = ModelConfig {
        hidden_size: 24,
        intermediate_size: 40,
        num_layers: 2,
        num_heads: 3,
        vocab_size: Some(29),
        max_position_embeddings: 16,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: false,
        initializer_range: 0.2,
        bos_token_id: None,
        eos_token_id: None,
    };
    let params = Params::init(&config, 8, &Device::Cpu).unwrap();
    let mut rng = Rng::new(9);
    let rows: Vec<Vec<u32>> = (0..3)
        .map(|_| (0..13).map(|_| rng.below(29) as u32).collect())
        .collect();
    let ids = factlab_model::ids_tensor(&rows, &Device::Cpu).unwrap();
    let run = |kernels| {
        let model = factlab_model::Llama::with_kernels(&config, &params, true, kernels).unwrap();
        assert_eq!(model.kernels(), kernels);
        let loss = model.loss(&ids).unwrap();
        let grads = loss.backward().unwrap();
        let grads: Vec<Tensor> = params
            .vars
            .iter()
            .map(|v| grads.get(v.as_tensor()).unwrap().clone())
            .collect();
        (loss, grads)
    };
    let (loss_f, grads_f) = run(Kernels::Fused);
    let (loss_c, grads_c) = run(Kernels::Composed);
    assert_close("model loss", &loss_f, &loss_c);
    for ((name, f), c) in params.names.iter().zip(&grads_f).zip(&grads_c) {
        assert_close(&format!("model gradient of {name}"), f, c);
    }
}

#[test]
fn keeping_or_recomputing_the_forward_scratch_gives_the_same_bytes() {
    let mut rng = Rng::new(10);
    let (heads, head_dim, seq) = (2, 4, 40);
    let rope = Arc::new(RopeTables::new(head_dim, seq, 10_000.0));
    let qkv = random(&[2, seq, 3 * heads * head_dim], &mut rng);
    let x = random(&[150, 6], &mut rng);
    let w = random(&[19, 6], &mut rng);
    let targets = Tensor::new(
        (0..150).map(|_| rng.below(19) as u32).collect::<Vec<_>>(),
        &Device::Cpu,
    )
    .unwrap();
    let attention = |t: &[Tensor]| kernels::causal_attention(&t[0], heads, &rope).unwrap();
    let output = |t: &[Tensor]| kernels::linear_cross_entropy(&t[0], &t[1], &targets).unwrap();
    let kept = (
        fused_bits(2, std::slice::from_ref(&qkv), attention),
        fused_bits(2, &[x.clone(), w.clone()], output),
    );
    kernels::set_keep_limit(0);
    let recomputed = (
        fused_bits(2, std::slice::from_ref(&qkv), attention),
        fused_bits(2, &[x, w], output),
    );
    kernels::set_keep_limit(256 << 20);
    assert!(kept.0 == recomputed.0, "attention differs when recomputed");
    assert!(
        kept.1 == recomputed.1,
        "output layer differs when recomputed"
    );
}
