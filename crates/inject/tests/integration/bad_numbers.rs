//! Bad numbers given to `inject` (issue 12), on the command line or in a schedule file: each
//! fails before any tokenizer is trained, with a non-zero exit, no panic, a message naming the
//! flag or the key, and no output.

use crate::common;

use std::process::Command;

use factlab_artifacts::write_rows;

/// (extra arguments, what the message must contain)
const CASES: &[(&[&str], &str)] = &[
    (&["--interval", "4294967295"], "--interval"),
    (&["--interval", "0"], "--interval"),
    (&["--max-per-step", "0"], "--max-per-step"),
    (&["--max-per-step", "4294967295"], "--max-per-step"),
    (&["--seq-len", "0"], "--seq-len"),
    (&["--seq-len", "18446744073709551615"], "--seq-len"),
    (&["--batch-size", "0"], "--batch-size"),
    (&["--steps", "0"], "--steps"),
    (&["--steps", "4294967295"], "--steps"),
    (&["--start-step", "4294967295"], "--start-step"),
    (&["--vocab-size", "10"], "--vocab-size"),
    (&["--shard-rows", "0"], "--shard-rows"),
    (&["--skip-docs", "18446744073709551615"], "--skip-docs"),
    // A schedule file's Δ and exposures are checked the same way.
    (&["--schedule", "huge-interval.toml"], "`interval`"),
    (&["--schedule", "long.toml"], "`interval`"),
    (&["--schedule", "many.toml"], "`exposures`"),
];

/// `--qa-share` outside (0, 1], with a QA file.
const QA_CASES: &[(&[&str], &str)] = &[
    (&["--qa-share", "0"], "--qa-share"),
    (&["--qa-share", "1.5"], "--qa-share"),
    (&["--qa-share", "NaN"], "--qa-share"),
    (&["--qa-share", "inf"], "--qa-share"),
    (&["--qa-share", "-0.5"], "--qa-share"),
];

#[test]
fn bad_numbers_fail_naming_the_flag_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    common::write_corpus(&path("corpus.parquet"), &common::corpus_texts(50, 1));
    write_rows(&path("knowledge.parquet"), &common::knowledge(12, 2)).unwrap();
    let group = "[[group]]\nscenario = \"duplicate\"\ncount = 4\n";
    for (name, text) in [
        (
            "schedule.toml",
            format!("interval = 5\n{group}exposures = 3\n"),
        ),
        (
            "huge-interval.toml",
            format!("interval = 4294967295\n{group}exposures = 3\n"),
        ),
        (
            "long.toml",
            format!("interval = 60000000\n{group}exposures = 3\n"),
        ),
        (
            "many.toml",
            format!("interval = 5\n{group}exposures = 4294967295\n"),
        ),
    ] {
        std::fs::write(path(name), text).unwrap();
    }
    let cases = CASES.iter().map(|(args, flag)| (args, flag, false));
    let qa_cases = QA_CASES.iter().map(|(args, flag)| (args, flag, true));
    for (index, (args, flag, qa)) in cases.chain(qa_cases).enumerate() {
        let out = path(&format!("out-{index}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_inject"));
        command
            .current_dir(dir.path())
            .args(["-c", "corpus.parquet", "--vocab-size", "300", "-o"])
            .arg(&out);
        if qa {
            command.args(["--qa", "qa.parquet", "--steps", "3"]);
        } else {
            command.args(["--inject", "knowledge.parquet"]);
            if !args.contains(&"--schedule") {
                command.args(["--schedule", "schedule.toml"]);
            }
        }
        let output = command.args(*args).output().unwrap();
        let stderr = factlab_testkit::refusal(args, &output, flag);
        assert!(
            !stderr.contains("training a byte-level BPE"),
            "{args:?} trained a tokenizer first: {stderr}"
        );
        for file in [
            "tokenizer.json",
            "shards/manifest.json",
            "injections.parquet",
        ] {
            assert!(!out.join(file).exists(), "{args:?} left {file}");
        }
    }
}
