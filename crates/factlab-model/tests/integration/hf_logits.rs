//! Our checkpoints load unchanged in transformers' LlamaForCausalLM and give the same logits
//! (to 1e-4), through `scripts/check_hf_logits.py`. Needs a Python with torch and transformers
//! (`FACTLAB_PYTHON`, else `bench/.venv/bin/python`, else `python3`), so it is ignored by
//! `make test` and run by `make check-hf`, which installs them; run that way it fails without them.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};
use factlab_model::checkpoint::save_model;
use factlab_model::{ids_tensor, Llama, ModelConfig, Params};

fn python_with_transformers(root: &Path) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("FACTLAB_PYTHON").map(PathBuf::from),
        Some(root.join("bench/.venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import torch, transformers, safetensors"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
#[ignore = "needs Python with torch and transformers: run `make check-hf`"]
fn transformers_loads_our_checkpoint_and_matches_logits() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = python_with_transformers(&root)
        .expect("no Python with torch, transformers and safetensors (set FACTLAB_PYTHON or run `make check-hf`)");
    let dir = tempfile::tempdir().unwrap();
    let mut folders = Vec::new();
    for tied in [true, false] {
        let config = ModelConfig {
            hidden_size: 64,
            intermediate_size: 96,
            num_layers: 3,
            num_heads: 4,
            vocab_size: Some(50),
            max_position_embeddings: 32,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: tied,
            // Larger than the default so attention and rotary positions visibly matter.
            initializer_range: 0.2,
            bos_token_id: None,
            eos_token_id: Some(0),
        };
        let params = Params::init(&config, 42, &Device::Cpu).unwrap();
        let folder = dir.path().join(format!("tied-{tied}"));
        std::fs::create_dir(&folder).unwrap();
        save_model(&folder, &config, &params).unwrap();
        let rows: Vec<Vec<u32>> = (0..3u32)
            .map(|r| (0..20).map(|i| (r * 7 + i * i) % 50).collect())
            .collect();
        let logits = Llama::new(&config, &params, false)
            .unwrap()
            .forward(&ids_tensor(&rows, &Device::Cpu).unwrap())
            .unwrap();
        let ids: Vec<i64> = rows.iter().flatten().map(|&t| i64::from(t)).collect();
        let ids = Tensor::from_vec(ids, (3, 20), &Device::Cpu).unwrap();
        factlab_model::save_tensors(
            &folder.join("reference.safetensors"),
            [("ids".to_string(), ids), ("logits".to_string(), logits)].into_iter(),
        )
        .unwrap();
        folders.push(folder);
    }
    let output = Command::new(&python)
        .arg(root.join("scripts/check_hf_logits.py"))
        .args(&folders)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    eprintln!("{text}");
    assert!(output.status.success(), "transformers disagrees:\n{text}");
}
