use crate::common::{config, rows};

use candle_core::{Device, Tensor};
use factlab_artifacts::{Probe, ProbeKind};
use factlab_model::checkpoint::{load_model, save_model};
use factlab_model::{encode_probes, ids_tensor, score_probes, Llama, Params};

#[test]
fn every_parameter_gets_a_nonzero_gradient_at_step_zero() {
    for tied in [true, false] {
        let config = config(tied);
        let params = Params::init(&config, 1, &Device::Cpu).unwrap();
        let model = Llama::new(&config, &params, true).unwrap();
        let loss = model
            .loss(&ids_tensor(&rows(), &Device::Cpu).unwrap())
            .unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in params.names.iter().zip(&params.vars) {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name} (tied {tied}) has no gradient"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "{name} (tied {tied}) has a zero gradient");
        }
    }
}

#[test]
fn initialisation_is_seeded() {
    let config = config(true);
    let a = Params::init(&config, 7, &Device::Cpu).unwrap();
    let b = Params::init(&config, 7, &Device::Cpu).unwrap();
    let c = Params::init(&config, 8, &Device::Cpu).unwrap();
    let values = |p: &Params| {
        p.get("model.layers.1.mlp.up_proj.weight")
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(values(&a), values(&b));
    assert_ne!(values(&a), values(&c));
}

#[test]
fn hidden_states_have_one_entry_per_layer_plus_embeddings() {
    let config = config(true);
    let params = Params::init(&config, 1, &Device::Cpu).unwrap();
    let model = Llama::new(&config, &params, false).unwrap();
    let (logits, hidden) = model
        .forward_with_hidden(&ids_tensor(&rows(), &Device::Cpu).unwrap(), true)
        .unwrap();
    assert_eq!(logits.dims(), &[2, 8, 11]);
    assert_eq!(hidden.len(), 3);
    assert!(hidden.iter().all(|h| h.dims() == [2, 8, 16]));
}

#[test]
fn checkpoint_round_trips_with_hf_names() {
    let dir = tempfile::tempdir().unwrap();
    for tied in [true, false] {
        let config = config(tied);
        let params = Params::init(&config, 3, &Device::Cpu).unwrap();
        save_model(dir.path(), &config, &params).unwrap();
        let (loaded_config, loaded) = load_model(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(loaded_config, config);
        assert_eq!(loaded.names, params.names);
        assert_eq!(loaded.names.contains(&"lm_head.weight".to_string()), !tied);
        for (a, b) in params.vars.iter().zip(&loaded.vars) {
            let diff = (a.as_tensor() - b.as_tensor())
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap();
            assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(json["model_type"], "llama");
        assert_eq!(json["architectures"][0], "LlamaForCausalLM");
    }
}

fn word_tokenizer() -> tokenizers::Tokenizer {
    let words = [
        "<|endoftext|>",
        "<unk>",
        "the",
        "capital",
        "of",
        "zorb",
        "is",
        "quux",
        "city",
        "a",
        "b",
    ];
    let vocab: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i.into()))
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    json.to_string().parse().unwrap()
}

/// Batched, padded scoring equals log-softmax of the logits of each probe alone, by hand.
#[test]
fn scored_logprobs_equal_a_direct_computation_from_the_logits() {
    let config = config(false);
    let params = Params::init(&config, 5, &Device::Cpu).unwrap();
    let model = Llama::new(&config, &params, false).unwrap();
    let probe = |id, prompt: &str, target: &str| Probe {
        id,
        knowledge_id: 9,
        kind: ProbeKind::Semantic,
        prompt: prompt.into(),
        target: target.into(),
        facts: vec![],
    };
    let probes = vec![
        probe(0, "the capital of zorb is", "quux city"),
        probe(1, "a", "b"),
        probe(2, "the capital of", "zorb is quux city"),
    ];
    let encoded = encode_probes(&word_tokenizer(), &probes, Some(0), 16).unwrap();
    assert_eq!(encoded[0].text.ids, vec![0, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(encoded[0].text.target_start, 6);
    let scores = score_probes(&model, &encoded, false, 2, &Device::Cpu).unwrap();
    for (probe, score) in encoded.iter().zip(&scores) {
        assert_eq!(score.probe_id, probe.probe_id);
        let (p, s) = (&probe.text, &score.target);
        let input = Tensor::new(&p.ids[..p.ids.len() - 1], &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = model
            .forward(&input)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let direct: Vec<f64> = (p.target_start..p.ids.len())
            .map(|i| {
                let row: Vec<f64> = logits[i - 1].iter().map(|&x| f64::from(x)).collect();
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let log_z = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
                row[p.ids[i] as usize] - log_z
            })
            .collect();
        let mean = direct.iter().sum::<f64>() / direct.len() as f64;
        assert!((s.target_logprob - mean).abs() < 1e-5, "{s:?} vs {mean}");
        assert!((s.first_token_logprob - direct[0]).abs() < 1e-5);
        assert_eq!(s.target_tokens as usize, direct.len());
    }
}

/// The loss over chosen predictions is the mean negative log-probability of their targets,
/// computed from the full forward pass, with either kernels; and targets that are not chosen
/// (and are nobody's context) get no say in the gradient.
#[test]
fn loss_at_chosen_positions_is_their_mean_cross_entropy() {
    let config = config(false);
    let params = Params::init(&config, 3, &Device::Cpu).unwrap();
    let ids = ids_tensor(&rows(), &Device::Cpu).unwrap();
    // Row-major over the 7 predicting positions of each row: row 0 predicts 4 and 5 at t = 1, 2;
    // row 1 predicts 10 at t = 5.
    let chosen = [(0usize, 1usize), (0, 2), (1, 5)];
    let positions: Vec<u32> = chosen.iter().map(|&(r, t)| (r * 7 + t) as u32).collect();
    let positions = Tensor::from_vec(positions, 3, &Device::Cpu).unwrap();
    let logits = Llama::new(&config, &params, false)
        .unwrap()
        .forward(&ids)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    let expected = chosen
        .iter()
        .map(|&(r, t)| {
            let row = &logits[r][t];
            let max = row.iter().cloned().fold(f32::MIN, f32::max);
            let log_sum = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
            log_sum - row[rows()[r][t + 1] as usize]
        })
        .sum::<f32>()
        / chosen.len() as f32;
    for kernels in [
        factlab_model::Kernels::Fused,
        factlab_model::Kernels::Composed,
    ] {
        let model = Llama::with_kernels(&config, &params, true, kernels).unwrap();
        let loss = model.loss_at(&ids, Some(&positions)).unwrap();
        let value = loss.to_scalar::<f32>().unwrap();
        assert!(
            (value - expected).abs() < 1e-5,
            "{kernels:?}: {value} vs {expected}"
        );

        // Changing a token after every chosen target changes neither loss nor gradients.
        let mut altered = rows();
        altered[0][6] = 1;
        altered[1][7] = 2;
        let altered_ids = ids_tensor(&altered, &Device::Cpu).unwrap();
        let other = model.loss_at(&altered_ids, Some(&positions)).unwrap();
        let grads = loss.backward().unwrap();
        let other_grads = other.backward().unwrap();
        for var in &params.vars {
            let a = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap();
            let b = other_grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap();
            assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        }
        assert_eq!(other.to_scalar::<f32>().unwrap(), value);
    }
}
