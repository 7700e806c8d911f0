use crate::common::{self, binary, s};

use std::path::{Path, PathBuf};

use factlab_artifacts::{read_rows, LogprobRow, TrainLogRow};
use factlab_model::{encode_probes, score_probes, Llama};
use train::TrainState;

/// The reproducible part of a train-log row (tokens/s is wall-clock).
fn log_key(rows: Vec<TrainLogRow>) -> Vec<(u32, u64, u64, u64, u64)> {
    rows.into_iter()
        .map(|r| {
            (
                r.step,
                r.loss.to_bits(),
                r.lr.to_bits(),
                r.grad_norm.to_bits(),
                r.tokens,
            )
        })
        .collect()
}

fn final_weights(out: &Path, step: u32) -> Vec<u8> {
    std::fs::read(out.join(format!("checkpoints/step-{step:06}/model.safetensors"))).unwrap()
}

#[test]
fn loss_falls_on_the_fixture_shards() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let out = dir.path().join("run");
    common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&out),
        "--lr",
        "1e-2",
        "--warmup-steps",
        "2",
        "--micro-batch",
        "2",
    ])
    .unwrap();
    let log = read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap();
    assert_eq!(log.len(), common::STEPS as usize);
    let (first, last) = (log[0].loss, log[log.len() - 1].loss);
    assert!(first > 3.0 && last < first - 1.0, "loss {first} -> {last}");
    assert!(out
        .join("checkpoints/step-000040/optimizer.safetensors")
        .exists());
    assert_eq!(
        std::fs::read_to_string(out.join("checkpoints/latest"))
            .unwrap()
            .trim(),
        "step-000040"
    );
}

fn pretrain_args(manifest: &Path, probes: &Path, out: &Path) -> Vec<String> {
    [
        "--shards",
        s(manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(out),
        "--lr",
        "5e-3",
        "--warmup-steps",
        "3",
        "--save-every",
        "4",
        "--micro-batch",
        "3",
        "--probes",
        s(probes),
        "--eval-schedule",
        "0..=5, log(6..=40, 6)",
        "--run-id",
        "r",
        "--quiet",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

#[test]
fn resume_after_kill_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let probes = common::write_probes(dir.path());
    let whole = dir.path().join("whole");
    let status = binary()
        .args(pretrain_args(&manifest, &probes, &whole))
        .status()
        .unwrap();
    assert!(status.success());

    let killed = dir.path().join("killed");
    common::kill_at_step_12(
        binary().args(pretrain_args(&manifest, &probes, &killed)),
        &killed,
    );
    let status = binary()
        .args(["--resume", s(&killed), "--quiet"])
        .status()
        .unwrap();
    assert!(status.success());

    let read_log =
        |out: &Path| log_key(read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap());
    assert_eq!(read_log(&whole), read_log(&killed));
    let read_probes = |out: &Path| read_rows::<LogprobRow>(&out.join("logprobs.parquet")).unwrap();
    assert_eq!(read_probes(&whole), read_probes(&killed));
    assert_eq!(read_probes(&whole).len(), 6 * 12);
    assert_eq!(final_weights(&whole, 40), final_weights(&killed, 40));
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let probes = common::write_probes(dir.path());
    let outs: Vec<PathBuf> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = dir.path().join(format!("threads-{threads}"));
            let mut args = pretrain_args(&manifest, &probes, &out);
            args.extend(["--steps".into(), "12".into()]);
            let status = binary()
                .env("RAYON_NUM_THREADS", threads)
                .args(args)
                .status()
                .unwrap();
            assert!(status.success());
            out
        })
        .collect();
    let log =
        |out: &Path| log_key(read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap());
    assert_eq!(log(&outs[0]), log(&outs[1]));
    assert_eq!(
        std::fs::read(outs[0].join("logprobs.parquet")).unwrap(),
        std::fs::read(outs[1].join("logprobs.parquet")).unwrap()
    );
    assert_eq!(final_weights(&outs[0], 12), final_weights(&outs[1], 12));
}

#[test]
fn init_continues_or_resets_as_asked() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let probes = common::write_probes(dir.path());
    let base = dir.path().join("base");
    common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&base),
        "--lr",
        "5e-3",
        "--warmup-steps",
        "3",
        "--schedule",
        "linear",
        "--save-at",
        "10",
        "--steps",
        "20",
    ])
    .unwrap();
    let checkpoint = base.join("checkpoints/step-000010");
    let base_log = read_rows::<TrainLogRow>(&base.join("train-log.parquet")).unwrap();

    // Plain continuation: step count, scheduler position and optimizer moments carry on.
    let carried = dir.path().join("carried");
    common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--init",
        s(&checkpoint),
        "--out",
        s(&carried),
        "--steps",
        "3",
    ])
    .unwrap();
    let log = read_rows::<TrainLogRow>(&carried.join("train-log.parquet")).unwrap();
    assert_eq!(
        log.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    let lrs = |rows: &[TrainLogRow]| rows.iter().map(|r| r.lr).collect::<Vec<_>>();
    assert_eq!(lrs(&log), lrs(&base_log[10..13]));
    let state = TrainState::load(&carried.join("checkpoints/step-000013")).unwrap();
    assert_eq!((state.optimizer_step, state.schedule_step), (13, 13));

    // App. G's protocol: the checkpoint's LR held, fresh optimizer, t from 0, probes from t = 0.
    let paper = dir.path().join("paper");
    common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--init",
        s(&checkpoint),
        "--out",
        s(&paper),
        "--steps",
        "4",
        "--continuation-lr",
        "hold",
        "--reset-optimizer",
        "--reset-step",
        "--probes",
        s(&probes),
        "--eval-schedule",
        "0..=4",
    ])
    .unwrap();
    let log = read_rows::<TrainLogRow>(&paper.join("train-log.parquet")).unwrap();
    assert_eq!(
        log.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    let held = base_log[10].lr;
    assert!(
        log.iter().all(|r| r.lr == held),
        "{:?} vs {held}",
        lrs(&log)
    );
    let state = TrainState::load(&paper.join("checkpoints/step-000004")).unwrap();
    assert_eq!(
        (state.step, state.optimizer_step, state.schedule_step),
        (4, 4, 14)
    );

    // t = 0 is the checkpoint's model, scored before any update.
    let scored = read_rows::<LogprobRow>(&paper.join("logprobs.parquet")).unwrap();
    assert_eq!(scored.len(), 6 * 5);
    let (config, params) =
        factlab_model::checkpoint::load_model(&checkpoint, &candle_core::Device::Cpu).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let probe_rows = read_rows(&probes).unwrap();
    let encoded = encode_probes(&tokenizer, &probe_rows, Some(0), 128).unwrap();
    let model = Llama::new(&config, &params, false).unwrap();
    let direct = score_probes(&model, &encoded, false, 64, &candle_core::Device::Cpu).unwrap();
    for (row, d) in scored.iter().filter(|r| r.step == 0).zip(&direct) {
        assert_eq!(
            (row.probe_id, row.target_logprob),
            (d.probe_id, d.target.target_logprob)
        );
    }
}

/// `--reset-schedule` starts a new schedule (here: no warmup, cosine over 8 steps from the new
/// peak); without it the run continues at the checkpoint's position, past the end of decay.
#[test]
fn reset_schedule_starts_the_learning_rate_schedule_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let base = dir.path().join("base");
    common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&base),
        "--steps",
        "20",
        "--schedule-steps",
        "10",
    ])
    .unwrap();
    let checkpoint = base.join("checkpoints/step-000020");
    let finetune = |name: &str, reset: bool| {
        let out = dir.path().join(name);
        let mut args = vec![
            "--shards",
            s(&manifest),
            "--init",
            s(&checkpoint),
            "--reset-step",
            "--reset-optimizer",
            "--lr",
            "1e-3",
            "--warmup-steps",
            "0",
            "--schedule-steps",
            "8",
            "--steps",
            "3",
            "--out",
            s(&out),
        ];
        if reset {
            args.push("--reset-schedule");
        }
        common::train_in_process(&args).unwrap();
        let log = read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap();
        log.iter().map(|r| r.lr).collect::<Vec<_>>()
    };
    let fresh = finetune("fresh", true);
    assert_eq!(fresh[0], 1e-3);
    assert!(fresh[1] < fresh[0] && fresh[2] < fresh[1], "{fresh:?}");
    let carried = finetune("carried", false);
    assert!(
        carried.iter().all(|&lr| (lr - 1e-4).abs() < 1e-12),
        "{carried:?}"
    );
}

/// A loss mask decides which predictions train: all flags set trains exactly as no mask; with
/// only the first half flagged, the tokens after it (no flagged prediction's target or context)
/// change nothing, to the last bit.
#[test]
fn loss_masks_train_on_the_flagged_tokens_only() {
    let run = |name: &str, edit: &dyn Fn(&mut factlab_artifacts::ShardRow)| {
        let dir = tempfile::tempdir().unwrap();
        let manifest = common::write_shards_with(dir.path(), edit);
        let out = dir.path().join(name);
        common::train_in_process(&[
            "--shards",
            s(&manifest),
            "--model",
            s(&common::smoke_model()),
            "--out",
            s(&out),
            "--steps",
            "6",
            "--micro-batch",
            "3",
        ])
        .unwrap();
        let log = log_key(read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap());
        (final_weights(&out, 6), log)
    };
    let half = common::SEQ as usize / 2;
    let plain = run("plain", &|_| {});
    let all_flagged = run("all", &|row| row.loss_mask = vec![true; row.tokens.len()]);
    assert_eq!(plain, all_flagged);
    let first_half = |row: &mut factlab_artifacts::ShardRow| {
        row.loss_mask = (0..row.tokens.len()).map(|i| i < half).collect();
    };
    let masked = run("masked", &first_half);
    assert_ne!(masked.0, plain.0, "the mask changed what trains");
    let scrambled = run("scrambled", &|row| {
        first_half(row);
        for (i, token) in row.tokens.iter_mut().enumerate().skip(half) {
            *token = 2 + (i as u32 * 7) % common::WORDS;
        }
    });
    assert_eq!(masked, scrambled, "unflagged tail tokens had an effect");
}
