//! Bad numbers on `augment`'s command line, its own and the served-model flags (issue 12): each
//! fails at once, with a non-zero exit, no panic, a message naming the flag, and no output.

use std::process::Command;

/// (arguments, what the message must contain)
const CASES: &[(&[&str], &str)] = &[
    (&["--paraphrases", "0"], "--paraphrases"),
    (&["--paraphrases", "4294967295"], "--paraphrases"),
    (&["--rewrites", "0"], "--rewrites"),
    (&["--max-attempts", "0"], "--max-attempts"),
    (&["--context-tokens", "0"], "--context-tokens"),
    (
        &["--context-tokens", "18446744073709551615"],
        "--context-tokens",
    ),
    (&["--temperature", "-1"], "--temperature"),
    (&["--temperature", "NaN"], "--temperature"),
    (&["--top-p", "0"], "--top-p"),
    (&["--top-p", "1.5"], "--top-p"),
    (&["--max-tokens", "0"], "--max-tokens"),
    (&["--timeout", "0"], "--timeout"),
    (&["--timeout", "1e300"], "--timeout"),
    (&["--timeout", "inf"], "--timeout"),
    (&["--backoff", "-1"], "--backoff"),
    (&["--backoff", "NaN"], "--backoff"),
    (&["--retries", "4294967295"], "--retries"),
    (&["--concurrency", "0"], "--concurrency"),
    (&["--concurrency", "4294967295"], "--concurrency"),
];

#[test]
fn bad_numbers_fail_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (index, (args, flag)) in CASES.iter().enumerate() {
        let output_file = dir.path().join(format!("out-{index}.parquet"));
        let output = Command::new(env!("CARGO_BIN_EXE_augment"))
            .current_dir(dir.path())
            .args(["-i", "knowledge.parquet", "--strategy", "paraphrase"])
            .args(["--endpoint", "http://127.0.0.1:9", "--model", "m", "-o"])
            .arg(&output_file)
            .args(*args)
            .output()
            .unwrap();
        let stderr = factlab_testkit::refusal(args, &output, flag);
        assert!(stderr.contains("expected"), "{args:?}: {stderr}");
        assert!(!output_file.exists(), "{args:?} left {output_file:?}");
    }
}
