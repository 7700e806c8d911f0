use crate::common::{config, rows, values};

use candle_core::{Device, Tensor};
use factlab_model::{ids_tensor, AdamW, AdamWConfig, Kernels, Llama, Lora, LoraConfig, Params};

fn lora_config() -> LoraConfig {
    LoraConfig {
        rank: Some(2),
        embedding_rank: Some(3),
        alpha: Some(4.0),
    }
}

/// One AdamW update of the adapters on `rows`; returns the loss before it.
fn lora_step(model: &Llama, lora: &Lora, optimizer: &mut AdamW) -> f32 {
    let loss = model
        .loss(&ids_tensor(&rows(), &Device::Cpu).unwrap())
        .unwrap();
    let grads = lora.params.gradients(&loss.backward().unwrap()).unwrap();
    optimizer.update(&lora.params, &grads, 1.0, 1e-2).unwrap();
    loss.to_scalar::<f32>().unwrap()
}

fn optimizer(lora: &Lora, weight_decay: f64) -> AdamW {
    let config = AdamWConfig {
        weight_decay,
        ..AdamWConfig::default()
    };
    AdamW::new(config, &lora.params).unwrap()
}

#[test]
fn fresh_adapters_leave_the_logits_unchanged() {
    for tied in [true, false] {
        for kernels in [Kernels::Fused, Kernels::Composed] {
            let config = config(tied);
            let params = Params::init(&config, 1, &Device::Cpu).unwrap();
            let lora = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
            let ids = ids_tensor(&rows(), &Device::Cpu).unwrap();
            let base = Llama::with_kernels(&config, &params, false, kernels).unwrap();
            let adapted = Llama::with_lora(&config, &params, &lora, true, kernels).unwrap();
            assert_eq!(
                values(&base.forward(&ids).unwrap()),
                values(&adapted.forward(&ids).unwrap()),
                "tied {tied}, {kernels:?}"
            );
        }
    }
}

#[test]
fn adapters_are_seeded_and_named_like_peft() {
    let config = config(true);
    let a = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
    let b = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
    assert_eq!(a.params.names, b.params.names);
    assert_eq!(a.params.names.len(), 2 * (1 + 2 * 2));
    assert_eq!(a.params.names[0], "model.embed_tokens.lora_A.weight");
    assert_eq!(
        a.params.names[3],
        "model.layers.0.self_attn.q_proj.lora_B.weight"
    );
    for (x, y) in a.params.vars.iter().zip(&b.params.vars) {
        assert_eq!(values(x.as_tensor()), values(y.as_tensor()));
    }
    let a_dims = a
        .params
        .get("model.layers.1.self_attn.v_proj.lora_A.weight")
        .dims()
        .to_vec();
    assert_eq!(a_dims, vec![2, 16]);
    assert_eq!(
        a.params.get("model.embed_tokens.lora_B.weight").dims(),
        &[11, 3]
    );
}

/// At step 0 only B gets a gradient (A's is `scale · Bᵀ · ∂W`, zero while B is); after one
/// update both do, and the frozen weights never have one.
#[test]
fn gradients_reach_b_then_a_and_never_the_base() {
    for kernels in [Kernels::Fused, Kernels::Composed] {
        let config = config(true);
        let params = Params::init(&config, 1, &Device::Cpu).unwrap();
        let lora = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
        let model = Llama::with_lora(&config, &params, &lora, true, kernels).unwrap();
        let mut optimizer = optimizer(&lora, 0.0);
        let snapshot = |lora: &Lora| {
            lora.params
                .vars
                .iter()
                .map(|v| values(v.as_tensor()))
                .collect::<Vec<_>>()
        };
        let check_base = || {
            let loss = model
                .loss(&ids_tensor(&rows(), &Device::Cpu).unwrap())
                .unwrap();
            let grads = loss.backward().unwrap();
            for (name, var) in params.names.iter().zip(&params.vars) {
                assert!(
                    grads.get(var.as_tensor()).is_none(),
                    "{name} got a gradient"
                );
            }
        };
        check_base();
        let before = snapshot(&lora);
        lora_step(&model, &lora, &mut optimizer);
        let after_one = snapshot(&lora);
        for (i, name) in lora.params.names.iter().enumerate() {
            let changed = before[i] != after_one[i];
            assert_eq!(
                changed,
                name.contains("lora_B"),
                "{name} after one step ({kernels:?})"
            );
        }
        lora_step(&model, &lora, &mut optimizer);
        let after_two = snapshot(&lora);
        for (i, name) in lora.params.names.iter().enumerate() {
            assert_ne!(
                after_one[i], after_two[i],
                "{name} after two steps ({kernels:?})"
            );
        }
        check_base();
    }
}

/// `W + scale · B · A` in f64, from the tensors' values alone.
fn merged_by_hand(w: &Tensor, a: &Tensor, b: &Tensor, scale: f64) -> Vec<f64> {
    let (out, rank) = b.dims2().unwrap();
    let input = a.dim(1).unwrap();
    let (w, a, b) = (values(w), values(a), values(b));
    (0..out * input)
        .map(|k| {
            let (i, j) = (k / input, k % input);
            let update: f64 = (0..rank)
                .map(|r| f64::from(b[i * rank + r]) * f64::from(a[r * input + j]))
                .sum();
            f64::from(w[k]) + scale * update
        })
        .collect()
}

#[test]
fn training_moves_only_the_adapters_and_merging_adds_them() {
    let config = config(true);
    let params = Params::init(&config, 1, &Device::Cpu).unwrap();
    let original: Vec<Vec<f32>> = params.vars.iter().map(|v| values(v.as_tensor())).collect();
    let lora = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
    let model = Llama::with_lora(&config, &params, &lora, true, Kernels::Fused).unwrap();
    let mut optimizer = optimizer(&lora, 0.01);
    let losses: Vec<f32> = (0..30)
        .map(|_| lora_step(&model, &lora, &mut optimizer))
        .collect();
    assert!(
        losses[29] < losses[0] - 0.5,
        "loss {} -> {}",
        losses[0],
        losses[29]
    );
    let now: Vec<Vec<f32>> = params.vars.iter().map(|v| values(v.as_tensor())).collect();
    assert_eq!(original, now, "a base weight moved");

    let merged = lora.merge(&params).unwrap();
    assert_eq!(merged.names, params.names);
    let mut adapted = 0;
    for name in &params.names {
        let stem = name.strip_suffix(".weight").unwrap();
        let a_name = format!("{stem}.lora_A.weight");
        let got = values(merged.get(name));
        if !lora.params.names.contains(&a_name) {
            assert_eq!(got, values(params.get(name)), "{name} is not adapted");
            continue;
        }
        adapted += 1;
        let a = lora.params.get(&a_name);
        let b = lora.params.get(&format!("{stem}.lora_B.weight"));
        let scale = 4.0 / a.dim(0).unwrap() as f64;
        let expected = merged_by_hand(params.get(name), a, b, scale);
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(g, e)| (f64::from(*g) - e).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "{name}: merged differs by {worst}");
        assert_ne!(
            got,
            values(params.get(name)),
            "{name}: the update is not zero"
        );
    }
    assert_eq!(adapted, 5);

    // The merged model computes what the adapted one does.
    let ids = ids_tensor(&rows(), &Device::Cpu).unwrap();
    let adapted_logits = values(
        &Llama::with_lora(&config, &params, &lora, false, Kernels::Fused)
            .unwrap()
            .forward(&ids)
            .unwrap(),
    );
    let merged_logits = values(
        &Llama::new(&config, &merged, false)
            .unwrap()
            .forward(&ids)
            .unwrap(),
    );
    assert_eq!(adapted_logits, merged_logits);
}

#[test]
fn saved_adapters_load_back_and_mismatches_are_refused() {
    let config = config(true);
    let lora = Lora::init(&lora_config(), &config, 5, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lora.safetensors");
    lora.save(&path).unwrap();
    let back = Lora::load(&lora_config(), &config, &path, &Device::Cpu).unwrap();
    for (x, y) in lora.params.vars.iter().zip(&back.params.vars) {
        assert_eq!(values(x.as_tensor()), values(y.as_tensor()));
    }
    let other = LoraConfig {
        rank: Some(4),
        ..lora_config()
    };
    let err = Lora::load(&other, &config, &path, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("q_proj.lora_A.weight"), "{err}");
}
