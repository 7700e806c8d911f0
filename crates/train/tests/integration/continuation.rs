//! A continuation's learning rate (`--continuation-lr`) and the foils scored beside its probes
//! (`--foil-schedule`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use factlab_artifacts::{read_rows, write_rows, LogprobRow, Probe, ProbeKind, TrainLogRow};
use factlab_model::{encode_continuation, target_logprobs, Llama};
use train::TrainState;

use crate::common::{self, s};

/// A base run on a cosine schedule that is still falling fast at its step-10 checkpoint.
fn base_checkpoint(dir: &Path) -> (PathBuf, PathBuf) {
    let manifest = common::write_shards(dir);
    let base = dir.join("base");
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
        "2",
        "--schedule-steps",
        "30",
        "--steps",
        "10",
    ])
    .unwrap();
    (manifest, base.join("checkpoints/step-000010"))
}

fn continue_from(manifest: &Path, checkpoint: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "--shards",
        s(manifest),
        "--init",
        s(checkpoint),
        "--reset-step",
        "--out",
        s(out),
        "--steps",
        "20",
    ];
    args.extend_from_slice(extra);
    common::train_in_process(&args).unwrap();
}

/// The largest relative distance of the run's logged learning rates from `reference`.
fn largest_lr_change(out: &Path, reference: f64) -> f64 {
    let log = read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap();
    assert_eq!(log.len(), 20);
    log.iter()
        .map(|r| (r.lr / reference - 1.0).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_held_continuation_keeps_the_checkpoints_rate_where_the_schedule_falls() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, checkpoint) = base_checkpoint(dir.path());
    let state = TrainState::load(&checkpoint).unwrap();
    let checkpoint_lr = state.config.lr.lr(state.schedule_step);

    let held = dir.path().join("held");
    continue_from(
        &manifest,
        &checkpoint,
        &held,
        &["--continuation-lr", "hold"],
    );
    let held_change = largest_lr_change(&held, checkpoint_lr);
    assert!(
        held_change < 0.01,
        "held: the LR moved {held_change} from {checkpoint_lr}"
    );
    // The optimizer state is the checkpoint's: its step count goes on.
    let end = TrainState::load(&held.join("checkpoints/step-000020")).unwrap();
    assert_eq!(end.optimizer_step, state.optimizer_step + 20);

    // The old default goes on along the base schedule, and falls far more than 1 %.
    let scheduled = dir.path().join("scheduled");
    continue_from(&manifest, &checkpoint, &scheduled, &[]);
    let scheduled_change = largest_lr_change(&scheduled, checkpoint_lr);
    assert!(
        scheduled_change > 0.5,
        "scheduled: the LR moved only {scheduled_change} from {checkpoint_lr}"
    );

    // A schedule flag would do nothing beside `hold`: refused, named.
    let refused = common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--init",
        s(&checkpoint),
        "--out",
        s(&dir.path().join("refused")),
        "--continuation-lr",
        "hold",
        "--schedule-steps",
        "90",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("--schedule-steps") && refused.contains("hold"),
        "{refused}"
    );
}

/// Probes whose foils exercise the rule: `(id, knowledge, kind, target words)`.
const FOIL_PROBES: [(u32, u32, ProbeKind, u32); 9] = [
    (0, 0, ProbeKind::Memorization, 2),
    (1, 0, ProbeKind::Semantic, 1),
    (2, 1, ProbeKind::Memorization, 1),
    (3, 1, ProbeKind::Memorization, 3),
    (4, 2, ProbeKind::Memorization, 2),
    (5, 2, ProbeKind::Semantic, 2),
    (6, 3, ProbeKind::Composition, 1),
    (7, 4, ProbeKind::Semantic, 3),
    (8, 3, ProbeKind::Semantic, 1),
];

fn write_foil_probes(dir: &Path) -> PathBuf {
    let word = |i: u32| format!("w{}", i % common::WORDS);
    let probes: Vec<Probe> = FOIL_PROBES
        .iter()
        .map(|&(id, knowledge_id, kind, length)| Probe {
            id,
            knowledge_id,
            kind,
            prompt: (id..id + 3).map(word).collect::<Vec<_>>().join(" "),
            target: (id + 3..id + 3 + length)
                .map(word)
                .collect::<Vec<_>>()
                .join(" "),
            facts: vec![],
        })
        .collect();
    let path = dir.join("foil-probes.parquet");
    write_rows(&path, &probes).unwrap();
    path
}

#[test]
fn each_probe_is_scored_with_the_nearest_same_kind_target_of_another_paragraph() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, checkpoint) = base_checkpoint(dir.path());
    let probes_path = write_foil_probes(dir.path());
    let out = dir.path().join("foils");
    continue_from(
        &manifest,
        &checkpoint,
        &out,
        &[
            "--continuation-lr",
            "hold",
            "--probes",
            s(&probes_path),
            "--eval-schedule",
            "0..=4",
            "--foil-schedule",
            "0, 4",
        ],
    );
    let rows = read_rows::<LogprobRow>(&out.join("logprobs.parquet")).unwrap();
    let probes: HashMap<u32, Probe> = read_rows::<Probe>(&probes_path)
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let length = |probe: &Probe| {
        let target = format!(" {}", probe.target);
        tokenizer.encode(target.as_str(), false).unwrap().len() as u32
    };

    // At a foil step: same kind, another paragraph, the nearest target length (ties: the
    // shorter, then the smaller id); no foil where no other paragraph has the kind.
    let foils: Vec<(u32, Option<u32>)> = rows
        .iter()
        .filter(|r| r.step == 0)
        .map(|r| (r.probe_id, r.foil_probe_id))
        .collect();
    let expected = [
        (0, Some(4)),
        (1, Some(8)),
        (2, Some(0)),
        (3, Some(0)),
        (4, Some(0)),
        (5, Some(1)),
        (6, None),
        (7, Some(5)),
        (8, Some(1)),
    ];
    assert_eq!(foils, expected);
    for row in rows.iter().filter(|r| r.step == 0) {
        let probe = &probes[&row.probe_id];
        let Some(foil_id) = row.foil_probe_id else {
            assert!(row.foil_target_logprob.is_none() && row.foil_target_tokens.is_none());
            continue;
        };
        let foil = &probes[&foil_id];
        assert_eq!(foil.kind, probe.kind);
        assert_ne!(foil.knowledge_id, probe.knowledge_id);
        let distance = |p: &Probe| length(p).abs_diff(length(probe));
        let nearest = probes
            .values()
            .filter(|p| p.kind == probe.kind && p.knowledge_id != probe.knowledge_id)
            .map(distance)
            .min()
            .unwrap();
        assert_eq!(distance(foil), nearest, "probe {}", probe.id);
        assert_eq!(row.foil_target_tokens, Some(length(foil)));
    }

    // The foil's score is the checkpoint model's log-probability of the foil's target after the
    // probe's prompt, scored on its own.
    let (config, params) =
        factlab_model::checkpoint::load_model(&checkpoint, &Device::Cpu).unwrap();
    let model = Llama::new(&config, &params, false).unwrap();
    for row in rows
        .iter()
        .filter(|r| r.step == 0 && r.foil_probe_id.is_some())
    {
        let foil = &probes[&row.foil_probe_id.unwrap()];
        let text = encode_continuation(
            &tokenizer,
            Some(0),
            &probes[&row.probe_id].prompt,
            &format!(" {}", foil.target),
            config.max_position_embeddings,
            &"direct",
        )
        .unwrap();
        let direct = &target_logprobs(
            &model,
            &[(text.ids.as_slice(), text.target_start)],
            1,
            &Device::Cpu,
            |_| {},
        )
        .unwrap()[0];
        let mean = direct.iter().sum::<f64>() / direct.len() as f64;
        let scored = row.foil_target_logprob.unwrap();
        assert!((scored - mean).abs() < 1e-6, "{scored} vs {mean}");
        assert!((row.foil_first_token_logprob.unwrap() - direct[0]).abs() < 1e-6);
        assert_ne!(scored, row.target_logprob);
    }

    // Foils only at the foil steps; the probes themselves at every eval step.
    let steps_with_foils: Vec<u32> = rows
        .iter()
        .filter(|r| r.foil_probe_id.is_some())
        .map(|r| r.step)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(steps_with_foils, [0, 4]);
    assert_eq!(rows.len(), 5 * FOIL_PROBES.len());

    // A foil step that is not an eval step is refused, named.
    let refused = common::train_in_process(&[
        "--shards",
        s(&manifest),
        "--init",
        s(&checkpoint),
        "--out",
        s(&dir.path().join("refused")),
        "--probes",
        s(&probes_path),
        "--eval-schedule",
        "0..=4",
        "--foil-schedule",
        "6",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("--foil-schedule") && refused.contains("step 6"),
        "{refused}"
    );
}
