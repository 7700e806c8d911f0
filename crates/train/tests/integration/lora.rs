//! LoRA finetuning through `train`: a base run, then adapters over its checkpoint.

use crate::common::{self, binary, s};

use std::path::{Path, PathBuf};

use candle_core::Device;
use factlab_artifacts::{read_rows, LogprobRow, TrainLogRow};
use factlab_model::checkpoint::load_model;
use factlab_model::{Lora, LoraConfig};
use train::{Session, TrainState};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// Shards, probes and a base model trained for 10 steps; returns the folder, the manifest, the
/// probes and the base checkpoint.
fn base_run() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let probes = common::write_probes(dir.path());
    let base = dir.path().join("base");
    common::train_in_process(&args(&[
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&base),
        "--lr",
        "5e-3",
        "--warmup-steps",
        "2",
        "--steps",
        "10",
        "--quiet",
    ]))
    .unwrap();
    let checkpoint = base.join("checkpoints/step-000010");
    (dir, manifest, probes, checkpoint)
}

fn lora_args(manifest: &Path, checkpoint: &Path, probes: &Path, out: &Path) -> Vec<String> {
    args(&[
        "--shards",
        s(manifest),
        "--init",
        s(checkpoint),
        "--reset-step",
        "--lora-rank",
        "4",
        "--lora-embedding-rank",
        "8",
        "--lora-alpha",
        "8",
        "--lr",
        "1e-2",
        "--warmup-steps",
        "0",
        "--weight-decay",
        "0.01",
        "--save-every",
        "4",
        "--probes",
        s(probes),
        "--eval-schedule",
        "0..=3, 10, 40",
        "--run-id",
        "r",
        "--out",
        s(out),
        "--quiet",
    ])
}

fn log_key(out: &Path) -> Vec<(u32, u64, u64, u64)> {
    read_rows::<TrainLogRow>(&out.join("train-log.parquet"))
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.step,
                r.loss.to_bits(),
                r.lr.to_bits(),
                r.grad_norm.to_bits(),
            )
        })
        .collect()
}

fn file(out: &Path, step: u32, name: &str) -> Vec<u8> {
    std::fs::read(out.join(format!("checkpoints/step-{step:06}/{name}"))).unwrap()
}

#[test]
fn lora_trains_the_adapters_and_saves_merged_weights() {
    let (dir, manifest, probes, checkpoint) = base_run();
    let base_bytes = std::fs::read(checkpoint.join("model.safetensors")).unwrap();
    let out = dir.path().join("lora");
    common::train_in_process(&lora_args(&manifest, &checkpoint, &probes, &out)).unwrap();

    let log = read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap();
    let (first, last) = (log[0].loss, log[log.len() - 1].loss);
    assert!(last < first - 0.3, "loss {first} -> {last}");
    assert_eq!(
        std::fs::read(checkpoint.join("model.safetensors")).unwrap(),
        base_bytes
    );

    // Step 0 is the base model: fresh adapters change nothing.
    let scored = read_rows::<LogprobRow>(&out.join("logprobs.parquet")).unwrap();
    let base_scores = {
        let again = dir.path().join("again");
        common::train_in_process(&args(&[
            "--shards",
            s(&manifest),
            "--init",
            s(&checkpoint),
            "--reset-step",
            "--reset-optimizer",
            "--probes",
            s(&probes),
            "--eval-schedule",
            "0",
            "--steps",
            "1",
            "--out",
            s(&again),
            "--quiet",
        ]))
        .unwrap();
        read_rows::<LogprobRow>(&again.join("logprobs.parquet")).unwrap()
    };
    let at_zero = |rows: &[LogprobRow]| {
        rows.iter()
            .filter(|r| r.step == 0)
            .map(|r| r.target_logprob.to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(at_zero(&scored), at_zero(&base_scores));

    // The checkpoint: merged weights that load as any model, adapters and their moments.
    let last_checkpoint = out.join("checkpoints/step-000040");
    for name in [
        "model.safetensors",
        "config.json",
        "lora-adapters.safetensors",
        "lora-optimizer.safetensors",
        "state.json",
    ] {
        assert!(last_checkpoint.join(name).exists(), "{name}");
    }
    assert!(!last_checkpoint.join("optimizer.safetensors").exists());
    let (model, merged) = load_model(&last_checkpoint, &Device::Cpu).unwrap();
    let (_, base) = load_model(&checkpoint, &Device::Cpu).unwrap();
    let lora_config = LoraConfig {
        rank: Some(4),
        embedding_rank: Some(8),
        alpha: Some(8.0),
    };
    let lora = Lora::load(
        &lora_config,
        &model,
        &last_checkpoint.join("lora-adapters.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let expected = lora.merge(&base).unwrap();
    let values = |t: &candle_core::Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for name in &merged.names {
        assert_eq!(
            values(merged.get(name)),
            values(expected.get(name)),
            "{name}"
        );
        let adapted = name.contains("q_proj") || name.contains("v_proj") || name.contains("embed");
        assert_eq!(
            values(merged.get(name)) != values(base.get(name)),
            adapted,
            "{name}"
        );
    }
    let state = TrainState::load(&last_checkpoint).unwrap();
    assert_eq!(state.config.lora.unwrap().adapters, lora_config);

    // Continuing from a LoRA checkpoint needs fresh optimizer state or new adapters.
    let err = common::train_in_process(&args(&[
        "--shards",
        s(&manifest),
        "--init",
        s(&last_checkpoint),
        "--out",
        s(&dir.path().join("next")),
        "--steps",
        "1",
    ]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("--reset-optimizer"), "{err}");
}

#[test]
fn lora_resume_after_kill_matches_an_uninterrupted_run() {
    let (dir, manifest, probes, checkpoint) = base_run();
    let whole = dir.path().join("whole");
    let status = binary()
        .args(lora_args(&manifest, &checkpoint, &probes, &whole))
        .status()
        .unwrap();
    assert!(status.success());

    let killed = dir.path().join("killed");
    common::kill_at_step_12(
        binary().args(lora_args(&manifest, &checkpoint, &probes, &killed)),
        &killed,
    );
    let status = binary()
        .args(["--resume", s(&killed), "--quiet"])
        .status()
        .unwrap();
    assert!(status.success());

    assert_eq!(log_key(&whole), log_key(&killed));
    let read_probes = |out: &Path| read_rows::<LogprobRow>(&out.join("logprobs.parquet")).unwrap();
    assert_eq!(read_probes(&whole), read_probes(&killed));
    for name in [
        "model.safetensors",
        "lora-adapters.safetensors",
        "lora-optimizer.safetensors",
    ] {
        assert_eq!(file(&whole, 40, name), file(&killed, 40, name), "{name}");
    }

    // A base that changed since is refused rather than silently used.
    let mut bytes = std::fs::read(checkpoint.join("model.safetensors")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(checkpoint.join("model.safetensors"), bytes).unwrap();
    let err = Session::resume(&killed).err().unwrap();
    assert!(train::inputs::inputs_changed(&err), "{err:#}");
    assert!(err.to_string().contains("base checkpoint changed"), "{err}");
}

#[test]
fn lora_outputs_do_not_depend_on_the_thread_count() {
    let (dir, manifest, probes, checkpoint) = base_run();
    let outs: Vec<PathBuf> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = dir.path().join(format!("threads-{threads}"));
            let mut list = lora_args(&manifest, &checkpoint, &probes, &out);
            list.extend(args(&["--steps", "12"]));
            let status = binary()
                .env("RAYON_NUM_THREADS", threads)
                .args(list)
                .status()
                .unwrap();
            assert!(status.success());
            out
        })
        .collect();
    assert_eq!(log_key(&outs[0]), log_key(&outs[1]));
    for name in [
        "model.safetensors",
        "lora-adapters.safetensors",
        "lora-optimizer.safetensors",
    ] {
        assert_eq!(file(&outs[0], 12, name), file(&outs[1], 12, name), "{name}");
    }
    assert_eq!(
        std::fs::read(outs[0].join("logprobs.parquet")).unwrap(),
        std::fs::read(outs[1].join("logprobs.parquet")).unwrap()
    );
}

#[test]
fn bad_lora_flags_are_refused_with_the_flag_named() {
    let (dir, manifest, _, checkpoint) = base_run();
    let out = dir.path().join("bad");
    let err = |extra: &[&str]| {
        let mut list = args(&["--shards", s(&manifest), "--out", s(&out)]);
        list.extend(args(extra));
        common::train_in_process(&list).unwrap_err().to_string()
    };
    let smoke = common::smoke_model();
    let init = s(&checkpoint);
    let cases: [(&[&str], &str); 6] = [
        (
            &["--model", s(&smoke), "--lora-rank", "4"],
            "--lora-rank needs --init",
        ),
        (
            &["--model", s(&smoke), "--lora-embedding-rank", "4"],
            "--lora-embedding-rank needs --init",
        ),
        (
            &["--init", init, "--lora-rank", "0"],
            "--lora-rank 0: the rank must be at least 1",
        ),
        (
            &["--init", init, "--lora-rank", "33"],
            "--lora-rank 33 is larger than the model's hidden size 32",
        ),
        (
            &["--init", init, "--lora-embedding-rank", "40"],
            "--lora-embedding-rank 40 is larger than 32",
        ),
        (
            &["--init", init, "--lora-alpha", "2"],
            "--lora-alpha needs --lora-rank",
        ),
    ];
    for (extra, expected) in cases {
        let message = err(extra);
        assert!(message.contains(expected), "{extra:?}: {message}");
    }
    // The largest ranks are accepted.
    let mut list = args(&["--shards", s(&manifest), "--out", s(&out), "--init", init]);
    list.extend(args(&[
        "--lora-rank",
        "32",
        "--lora-embedding-rank",
        "32",
        "--steps",
        "1",
        "--quiet",
    ]));
    common::train_in_process(&list).unwrap();
}
