//! Bad numbers on `probe`'s command line, its own and the served-model flags (issue 12): each
//! fails at once, with a non-zero exit, no panic, a message naming the flag, and no output.

use std::process::Command;

const MODEL: &[&str] = &["--checkpoint", "run", "--tokenizer", "tokenizer.json"];

/// (subcommand and its required arguments, bad arguments, what the message must contain)
const CASES: &[(&[&str], &[&str], &str)] = &[
    (
        &["score", "--options", "o.parquet"],
        &["--batch-size", "0"],
        "--batch-size",
    ),
    (
        &["score", "--options", "o.parquet"],
        &["--batch-size", "18446744073709551615"],
        "--batch-size",
    ),
    (
        &["score", "--options", "o.parquet"],
        &["--batch-size", "-1"],
        "--batch-size",
    ),
    (
        &["generate", "--qa", "qa.parquet"],
        &["--max-new-tokens", "0"],
        "--max-new-tokens",
    ),
    (
        &["generate", "--qa", "qa.parquet"],
        &["--max-new-tokens", "4294967295"],
        "--max-new-tokens",
    ),
    (
        &["hidden", "--bios", "b.parquet"],
        &["--limit", "0"],
        "--limit",
    ),
];

/// `probe score-in-context` (no model folder: a served model).
const IN_CONTEXT: &[(&[&str], &str)] = &[
    (&["--context-tokens", "0"], "--context-tokens"),
    (&["--questions-per-split", "0"], "--questions-per-split"),
    (&["--timeout", "1e300"], "--timeout"),
    (&["--backoff", "NaN"], "--backoff"),
    (&["--concurrency", "0"], "--concurrency"),
];

#[test]
fn bad_numbers_fail_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cases = CASES
        .iter()
        .map(|(head, args, flag)| (head.to_vec(), MODEL, *args, *flag));
    let served: &[&str] = &["--endpoint", "http://127.0.0.1:9", "--model", "m"];
    let in_context = IN_CONTEXT.iter().map(|(args, flag)| {
        (
            vec!["score-in-context", "--options", "o.parquet"],
            served,
            *args,
            *flag,
        )
    });
    for (index, (head, more, args, flag)) in cases.chain(in_context).enumerate() {
        let output_file = dir.path().join(format!("out-{index}.parquet"));
        let output = Command::new(env!("CARGO_BIN_EXE_probe"))
            .current_dir(dir.path())
            .args(&head)
            .args(more)
            .arg("-o")
            .arg(&output_file)
            .args(args)
            .output()
            .unwrap();
        let stderr = factlab_testkit::refusal(args, &output, flag);
        assert!(stderr.contains("expected"), "{args:?}: {stderr}");
        assert!(!output_file.exists(), "{args:?} left {output_file:?}");
    }
}
