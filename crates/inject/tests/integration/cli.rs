//! The binary: argument handling, stdin corpus, continuation with `--after`, error messages.

use crate::common;

use std::path::Path;

use assert_cmd::Command;
use factlab_artifacts::{read_rows, write_rows, Injection};

fn inject() -> Command {
    Command::cargo_bin("inject").unwrap()
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::write_corpus(
        &dir.path().join("corpus.parquet"),
        &common::corpus_texts(300, 5),
    );
    write_rows(
        &dir.path().join("knowledge.parquet"),
        &common::knowledge(12, 2),
    )
    .unwrap();
    dir
}

/// A 3-step pretraining run of 4 × 32 tokens with a 350-token tokenizer.
fn pretrain_args<'a>(corpus: &'a str, out: &'a str) -> [&'a str; 15] {
    [
        "-c",
        corpus,
        "-o",
        out,
        "--vocab-size",
        "350",
        "--seq-len",
        "32",
        "--batch-size",
        "4",
        "--steps",
        "3",
        "-q",
        "--tokenizer-knowledge",
        "knowledge.parquet",
    ]
}

fn pretrain(dir: &Path) {
    inject()
        .current_dir(dir)
        .args(pretrain_args("corpus.parquet", "pre"))
        .assert()
        .success();
}

fn stderr_of(assert: assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn help_shows_an_example() {
    let out = inject()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    assert!(
        help.contains("Examples:") && help.contains("--schedule pipelines/schedules/smoke.toml"),
        "{help}"
    );
}

#[test]
fn corpus_from_stdin_gives_the_same_shards_as_from_a_file() {
    let dir = fixture();
    pretrain(dir.path());
    let corpus = std::fs::read(dir.path().join("corpus.parquet")).unwrap();
    inject()
        .current_dir(dir.path())
        .args(pretrain_args("-", "piped"))
        .write_stdin(corpus)
        .assert()
        .success();
    let (file, piped) = (
        common::folder_bytes(&dir.path().join("pre")),
        common::folder_bytes(&dir.path().join("piped")),
    );
    // The summary names the corpus (`<stdin/stdout>`); everything else is identical.
    let without_summary = |files: Vec<(std::path::PathBuf, Vec<u8>)>| {
        files
            .into_iter()
            .filter(|(p, _)| !p.ends_with("inject-summary.json"))
            .collect::<Vec<_>>()
    };
    assert_eq!(without_summary(file), without_summary(piped));
}

#[test]
fn continuation_after_pretraining_injects_and_counts_dropped_tokens() {
    let dir = fixture();
    std::fs::write(
        dir.path().join("schedule.toml"),
        "interval = 2\n[[group]]\nscenario = \"paraphrase\"\ncount = 2\nexposures = 3\ntext = \"paraphrases\"\n[[group]]\nscenario = \"once\"\ncount = 2\nexposures = 1\n",
    )
    .unwrap();
    pretrain(dir.path());
    let assert = inject()
        .current_dir(dir.path())
        .args([
            "-c",
            "corpus.parquet",
            "-o",
            "cont",
            "--after",
            "pre",
            "--seq-len",
            "48",
            "--batch-size",
            "4",
            "--steps",
            "5",
        ])
        .args([
            "--inject",
            "knowledge.parquet",
            "--schedule",
            "schedule.toml",
        ])
        .assert()
        .success();
    let log = stderr_of(assert);
    assert!(log.contains("dropped_corpus_tokens="), "{log}");
    let (manifest, rows) = common::read_shards(&dir.path().join("cont"));
    assert_eq!(
        (manifest.start_step, manifest.steps, manifest.seq_len),
        (3, 5, 48)
    );
    assert!(rows.iter().all(|r| r.tokens.len() == 48));
    let injections: Vec<Injection> =
        read_rows(&dir.path().join("cont/injections.parquet")).unwrap();
    let steps: Vec<u32> = injections.iter().map(|i| i.step).collect();
    assert_eq!(steps, vec![3, 3, 3, 3, 5, 5, 7, 7]);
}

#[test]
fn mismatched_tokenizer_is_refused() {
    let dir = fixture();
    pretrain(dir.path());
    inject()
        .current_dir(dir.path())
        .args([
            "-c",
            "corpus.parquet",
            "-o",
            "other",
            "--vocab-size",
            "300",
            "--steps",
            "1",
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "-q",
        ])
        .assert()
        .success();
    let assert = inject()
        .current_dir(dir.path())
        .args([
            "-c",
            "corpus.parquet",
            "-o",
            "cont",
            "--after",
            "pre",
            "--tokenizer",
            "other/tokenizer.json",
            "--steps",
            "1",
            "-q",
        ])
        .assert()
        .failure();
    let error = stderr_of(assert);
    assert!(
        error.contains(
            "mismatched tokenizers: other/tokenizer.json differs from pre/shards/../tokenizer.json"
        ),
        "{error}"
    );
    // The same tokenizer passed explicitly is fine.
    inject()
        .current_dir(dir.path())
        .args([
            "-c",
            "corpus.parquet",
            "-o",
            "cont",
            "--after",
            "pre",
            "--tokenizer",
            "pre/tokenizer.json",
            "--steps",
            "1",
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "-q",
        ])
        .assert()
        .success();
}

#[test]
fn bad_inputs_fail_with_the_file_and_column_named() {
    let dir = fixture();
    let injection = Injection {
        knowledge_id: 0,
        scenario: "once".into(),
        exposure: 0,
        step: 0,
        row: 0,
        variant: 0,
        offset: 0,
        length: 1,
        text_tokens: 1,
    };
    write_rows(&dir.path().join("not-corpus.parquet"), &[injection]).unwrap();
    std::fs::write(dir.path().join("broken.toml"), "interval = \"soon\"\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-c", "missing.parquet"], "missing.parquet"),
        (
            &["-c", "not-corpus.parquet"],
            "not-corpus.parquet: column `text` is missing; expected utf8",
        ),
        (
            &[
                "-c",
                "corpus.parquet",
                "--inject",
                "knowledge.parquet",
                "--schedule",
                "broken.toml",
            ],
            "broken.toml: not a valid schedule file",
        ),
        (
            &[
                "-c",
                "corpus.parquet",
                "--inject",
                "corpus.parquet",
                "--schedule",
                "broken.toml",
            ],
            "corpus.parquet: column `id` is missing",
        ),
        (
            &["-c", "corpus.parquet", "--tokenizer", "knowledge.parquet"],
            "knowledge.parquet: cannot read the tokenizer",
        ),
    ];
    for (args, expected) in cases {
        let assert = inject()
            .current_dir(dir.path())
            .args(["-o", "out", "-q"])
            .args(*args)
            .assert()
            .failure();
        let error = stderr_of(assert);
        assert!(
            error.contains(expected),
            "{args:?}: `{expected}` missing from: {error}"
        );
    }
    // Clap checks the flag combinations.
    inject()
        .current_dir(dir.path())
        .args([
            "-c",
            "corpus.parquet",
            "-o",
            "out",
            "--inject",
            "knowledge.parquet",
        ])
        .assert()
        .failure()
        .code(2);
}
