//! `--resume DIR` continues in DIR wherever the run was started or moved to; flags that conflict
//! with the saved run, and shards or tokenizers that changed, are refused; a fresh run does not
//! mix with an old one's files; the numbers of the flags are checked when parsed.

use crate::common::{self, binary, s};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use factlab_artifacts::{read_rows, LogprobRow, TrainLogRow};
use train::Cli;

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked at"), "{stderr}");
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Flags of a 40-step run with probes, checkpoints every 4 steps, paths as given.
fn run_args(manifest: &str, probes: &str, out: &str) -> Vec<String> {
    [
        "--shards",
        manifest,
        "--model",
        s(&common::smoke_model()),
        "--out",
        out,
        "--lr",
        "5e-3",
        "--warmup-steps",
        "3",
        "--save-every",
        "4",
        "--probes",
        probes,
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

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Train-log rows without the wall-clock column, logprobs and final weights.
type Results = (Vec<(u32, u64, u64, u64)>, Vec<LogprobRow>, Vec<u8>);

/// What must be byte-identical between an interrupted and an uninterrupted run.
fn results(out: &Path) -> Results {
    let log = read_rows::<TrainLogRow>(&out.join("train-log.parquet"))
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
        .collect();
    let probes = read_rows::<LogprobRow>(&out.join("logprobs.parquet")).unwrap();
    let weights = std::fs::read(out.join("checkpoints/step-000040/model.safetensors")).unwrap();
    (log, probes, weights)
}

/// A second trainer pointed at the folder of a live run is refused, naming the folder, and
/// removes nothing: not the live run's temporary checkpoint (which `--resume` would take for a
/// killed run's leftover) and not the folder (which `--force` clears). Once the live run is
/// gone, the folder resumes.
#[test]
fn a_second_trainer_is_refused_a_live_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let probes = common::write_probes(dir.path());
    let out = dir.path().join("live");
    let args = run_args(s(&manifest), s(&probes), s(&out));
    let live = common::hold_at_step_12(binary().args(&args), &out);
    let checkpoints = out.join("checkpoints");
    let temporary = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".step-000012.tmp-"))
        .expect("the live run's temporary checkpoint");

    let resume = ["--resume", s(&out), "--quiet"].map(String::from).to_vec();
    let forced = [args.clone(), vec!["--force".into()]].concat();
    for second in [resume, forced] {
        let output = run(binary().args(&second));
        let message = stderr(&output);
        assert!(!output.status.success(), "{second:?}");
        assert!(
            message.contains(&format!("{}: another train process", out.display())),
            "{second:?}: {message}"
        );
        assert!(
            temporary.is_dir(),
            "{second:?} removed the live run's temporary"
        );
        assert!(checkpoints.join("step-000008").is_dir(), "{second:?}");
    }

    drop(live); // SIGKILL
    let output = run(binary().args(["--resume", s(&out), "--quiet"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!temporary.exists());
    assert!(checkpoints.join("step-000040").is_dir());
}

/// A run started with relative paths in `data/`, killed at step 12, then copied (with its
/// data) elsewhere and resumed from a third working directory: the copy ends byte-identical to
/// an uninterrupted run and the original folder is untouched. A run folder copied alone
/// resumes too (its inputs found from where it was saved).
#[test]
fn a_copied_run_resumes_in_the_copy_from_another_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let data = first.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let manifest = common::write_shards(&data);
    let probes = common::write_probes(&data);
    let whole = dir.path().join("whole");
    assert!(
        run(binary().args(run_args(s(&manifest), s(&probes), s(&whole))))
            .status
            .success()
    );

    let relative = run_args("data/manifest.json", "data/probes.parquet", "runs/killed");
    common::kill_at_step_12(
        binary().current_dir(&first).args(&relative),
        &first.join("runs/killed"),
    );
    let state =
        std::fs::read_to_string(first.join("runs/killed/checkpoints/step-000008/state.json"))
            .unwrap();
    assert!(
        state.contains("\"shards\": \"../../data/manifest.json\""),
        "{state}"
    );
    assert!(!state.contains("\"out\""), "{state}");

    // Copied with its data; the original's data moved away, so only the copy's can be used.
    let second = dir.path().join("second");
    copy_dir(&first, &second);
    let before = snapshot(&first.join("runs/killed"));
    std::fs::rename(&data, first.join("data-away")).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let output = run(binary().current_dir(&elsewhere).args([
        "--resume",
        "../second/runs/killed",
        "--quiet",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(results(&whole), results(&second.join("runs/killed")));
    assert_eq!(
        before,
        snapshot(&first.join("runs/killed")),
        "original changed"
    );
    std::fs::rename(first.join("data-away"), &data).unwrap();

    // The run folder copied alone: its inputs are found from the folder it was saved in.
    let alone = dir.path().join("alone");
    copy_dir(&first.join("runs/killed"), &alone);
    let output = run(binary().args(["--resume", s(&alone), "--quiet"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(results(&whole), results(&alone));
    assert_eq!(
        before,
        snapshot(&first.join("runs/killed")),
        "original changed"
    );
}

/// A short finished run (12 steps) to resume in the tests below.
fn short_run(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let manifest = common::write_shards(dir);
    let probes = common::write_probes(dir);
    let out = dir.join("run");
    let mut args = run_args(s(&manifest), s(&probes), s(&out));
    args.extend(["--steps".into(), "12".into()]);
    assert!(run(binary().args(args)).status.success());
    (manifest, probes, out)
}

#[test]
fn flags_that_conflict_with_the_saved_run_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, probes, out) = short_run(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_manifest = common::write_shards(&other);
    let tiny = common::smoke_model().with_file_name("tiny.toml");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--lr", "1e-3"], vec!["--lr", "0.001", "0.005"]),
        (vec!["--steps", "20"], vec!["--steps 20", "12 steps"]),
        (vec!["--seed", "7"], vec!["--seed", "7", "0"]),
        (
            vec!["--shards", s(&other_manifest)],
            vec!["--shards", "other"],
        ),
        (vec!["--model", s(&tiny)], vec!["--model", "tiny.toml"]),
        (
            vec!["--warmup-steps", "4"],
            vec!["--warmup-steps", "4", "3"],
        ),
        (
            vec!["--probes", s(&probes), "--eval-schedule", "0..=3"],
            vec!["--eval-schedule"],
        ),
        (vec!["--run-id", "x"], vec!["--run-id", "\"x\"", "\"r\""]),
        (vec!["--beta1", "0.8"], vec!["--beta1", "0.8", "0.9"]),
    ];
    for (extra, expected) in cases {
        let output = run(binary().args(["--resume", s(&out)]).args(&extra));
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {message}");
        for part in expected {
            assert!(message.contains(part), "{extra:?}: {message}");
        }
    }
    // Flags that agree with the run, and --device, are accepted.
    let output = run(binary().args([
        "--resume",
        s(&out),
        "--lr",
        "5e-3",
        "--steps",
        "12",
        "--shards",
        s(&manifest),
        "--probes",
        s(&probes),
        "--eval-schedule",
        "0..=5, log(6..=40, 6)",
        "--model",
        s(&common::smoke_model()),
        "--seed",
        "0",
        "--device",
        "cpu",
        "--quiet",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Shards or a tokenizer that changed since the run started: exit status 3 (and only then),
/// naming the manifest or the tokenizer.
#[test]
fn changed_shards_or_tokenizer_exit_with_status_3() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, _, out) = short_run(dir.path());
    let manifest = std::fs::canonicalize(manifest).unwrap();
    let resume = || run(binary().args(["--resume", s(&out), "--quiet"]));
    assert!(resume().status.success());

    let tokenizer = std::fs::canonicalize(dir.path().join("tokenizer.json")).unwrap();
    let original = std::fs::read_to_string(&tokenizer).unwrap();
    std::fs::write(&tokenizer, original.replace("\"w1\"", "\"v1\"")).unwrap();
    let output = resume();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert!(
        message.contains(&format!("the tokenizer {}", tokenizer.display())),
        "{message}"
    );
    // Reformatted but the same tokenizer: accepted.
    let value: serde_json::Value = serde_json::from_str(&original).unwrap();
    std::fs::write(&tokenizer, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    assert!(resume().status.success());

    // Regenerated shards with other rows (same manifest layout).
    common::write_shards_with(dir.path(), |row| row.tokens.reverse());
    let output = resume();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{message}");
    assert!(
        message.contains(&format!("the shards of {}", manifest.display())),
        "{message}"
    );

    // Missing inputs are an error, not a change.
    std::fs::remove_file(&manifest).unwrap();
    let output = resume();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("manifest.json"),
        "{}",
        stderr(&output)
    );
}

/// A state of the first format (paths relative to the working directory it was started from,
/// the output folder recorded, no digests) still resumes, from another directory too.
#[test]
fn an_old_state_resumes_from_another_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_shards(&data);
    common::write_probes(&data);
    let mut args = run_args("data/manifest.json", "data/probes.parquet", "runs/old");
    args.extend(["--steps".into(), "8".into()]);
    assert!(run(binary().current_dir(dir.path()).args(args))
        .status
        .success());
    let state_path = dir
        .path()
        .join("runs/old/checkpoints/step-000008/state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["format"] = "factlab-train-state/1".into();
    state.as_object_mut().unwrap().remove("saved_in");
    let config = state["config"].as_object_mut().unwrap();
    config.insert("shards".into(), "data/manifest.json".into());
    config.insert("probes".into(), "data/probes.parquet".into());
    config.insert("out".into(), "runs/old".into());
    config.remove("inputs");
    config.remove("first_step");
    std::fs::write(&state_path, serde_json::to_string_pretty(&state).unwrap()).unwrap();

    let output = run(binary()
        .current_dir(dir.path().join("runs"))
        .args(["--resume", "old", "--quiet"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let saved = std::fs::read_to_string(&state_path).unwrap();
    assert!(saved.contains("factlab-train-state/2"), "{saved}");
    assert!(
        saved.contains("\"shards\": \"../../data/manifest.json\""),
        "{saved}"
    );
}

#[test]
fn a_fresh_run_into_a_non_empty_folder_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, probes, out) = short_run(dir.path());
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    let mut args = run_args(s(&manifest), s(&probes), s(&out));
    args.extend(["--steps".into(), "4".into()]);
    let output = run(binary().args(&args));
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("is not empty") && message.contains("--force"),
        "{message}"
    );
    assert!(out.join("checkpoints/step-000012").exists());

    args.push("--force".into());
    let output = run(binary().args(&args));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!out.join("stale.txt").exists());
    assert!(!out.join("checkpoints/step-000012").exists());
    assert!(out.join("checkpoints/step-000004").exists());
    let rows = read_rows::<TrainLogRow>(&out.join("train-log.parquet")).unwrap();
    assert_eq!(rows.len(), 4);

    // --force never clears a folder holding the run's own input.
    let inside = out.join("data");
    std::fs::create_dir_all(&inside).unwrap();
    let inside_manifest = common::write_shards(&inside);
    let mut args = run_args(s(&inside_manifest), s(&probes), s(&out));
    args.push("--force".into());
    let output = run(binary().args(&args));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--force would clear --shards"),
        "{}",
        stderr(&output)
    );
    assert!(inside_manifest.exists());
}

/// `--init` refuses shards whose tokenizer is not its checkpoint's, naming both.
#[test]
fn init_refuses_shards_of_another_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, out) = short_run(dir.path());
    let checkpoint = out.join("checkpoints/step-000012");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_manifest = common::write_shards(&other);
    let tokenizer = other.join("tokenizer.json");
    let text = std::fs::read_to_string(&tokenizer).unwrap();
    std::fs::write(&tokenizer, text.replace("\"w3\"", "\"z3\"")).unwrap();
    let next = dir.path().join("next");
    let args = [
        "--shards",
        s(&other_manifest),
        "--init",
        s(&checkpoint),
        "--out",
        s(&next),
        "--steps",
        "1",
    ];
    let cli = Cli::parse_from(std::iter::once("train").chain(args));
    let message = train::cli::config_from_flags(&cli).unwrap_err().to_string();
    assert!(
        message.contains(&tokenizer.display().to_string()),
        "{message}"
    );
    let old = std::fs::canonicalize(dir.path().join("tokenizer.json")).unwrap();
    assert!(message.contains(&old.display().to_string()), "{message}");
    assert!(message.contains(s(&checkpoint)), "{message}");

    // The same tokenizer in another folder is accepted.
    std::fs::write(&tokenizer, text).unwrap();
    let cli = Cli::parse_from(std::iter::once("train").chain(args));
    train::cli::config_from_flags(&cli).unwrap();
}

/// Numbers are checked when parsed, with the flag named; none reaches training.
#[test]
fn bad_numbers_are_refused_with_the_flag_named() {
    let base = [
        "train", "--shards", "m.json", "--model", "x.toml", "--out", "o",
    ];
    let cases: [(&[&str], &str); 17] = [
        (&["--lr", "NaN"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--lr", "-1"], "--lr"),
        (&["--lr", "0"], "--lr"),
        (&["--constant-lr", "NaN"], "--constant-lr"),
        (&["--beta1", "1.5"], "--beta1"),
        (&["--beta2", "1"], "--beta2"),
        (&["--eps", "0"], "--eps"),
        (&["--weight-decay", "-0.1"], "--weight-decay"),
        (&["--grad-clip", "-1"], "--grad-clip"),
        (&["--final-lr-ratio", "2"], "--final-lr-ratio"),
        (&["--warmup-steps", "4294967295"], "--warmup-steps"),
        (&["--schedule-steps", "0"], "--schedule-steps"),
        (&["--steps", "0"], "--steps"),
        (&["--micro-batch", "0"], "--micro-batch"),
        (
            &["--probes", "p", "--eval-schedule", "0..=4294967295"],
            "--eval-schedule",
        ),
        (&["--save-at", "0..=99999999"], "--save-at"),
    ];
    for (extra, flag) in cases {
        let args = base.iter().chain(extra.iter());
        let message = Cli::try_parse_from(args).unwrap_err().to_string();
        assert!(message.contains(flag), "{extra:?}: {message}");
    }
    // Warmup longer than the schedule is refused once both are known.
    let dir = tempfile::tempdir().unwrap();
    let manifest = common::write_shards(dir.path());
    let cli = Cli::parse_from([
        "train",
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&dir.path().join("o")),
        "--warmup-steps",
        "50",
        "--schedule-steps",
        "10",
    ]);
    let message = train::cli::config_from_flags(&cli).unwrap_err().to_string();
    assert!(
        message.contains("--warmup-steps 50 exceeds --schedule-steps 10"),
        "{message}"
    );
    // From the binary: a clear message, exit 2 (clap's), nothing written.
    let out = dir.path().join("bad");
    let output = run(binary().args([
        "--shards",
        s(&manifest),
        "--model",
        s(&common::smoke_model()),
        "--out",
        s(&out),
        "--lr",
        "-1",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("'-1' for '--lr <LR>'"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}
