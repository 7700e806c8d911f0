//! Bad numbers on `gen-facts`' command line (issue 12): each fails at once, with a non-zero
//! exit, no panic, a message naming the flag, and no output file.

use std::process::Command;

/// (arguments before `-o FILE`, what the message must contain)
const CASES: &[(&[&str], &str)] = &[
    (&["fictional", "--words", "420,270"], "--words"),
    (&["fictional", "--words", "270"], "--words"),
    (&["fictional", "--words", "1,2,3"], "--words"),
    (&["fictional", "-n", "4294967295"], "--count"),
    (&["fictional", "-n", "0"], "--count"),
    (&["fictional", "-n", "-1"], "--count"),
    (
        &["fictional", "--paraphrases", "4294967295"],
        "--paraphrases",
    ),
    (
        &["fictional", "--min-sentences", "18446744073709551615"],
        "--min-sentences",
    ),
    (&["background", "--documents", "0"], "--documents"),
    (
        &["background", "--documents", "18446744073709551615"],
        "--documents",
    ),
    (&["background", "--tokens", "0"], "--tokens"),
    (&["bios", "-n", "4294967295"], "--count"),
    (&["bios", "--celebrities", "4294967295"], "--celebrities"),
    (&["bios", "--train-fraction", "1.5"], "--train-fraction"),
    (&["bios", "--train-fraction", "NaN"], "--train-fraction"),
    (&["bios", "--train-fraction", "inf"], "--train-fraction"),
    (&["bios", "--train-fraction", "-0.5"], "--train-fraction"),
    (&["reversals", "-n", "0"], "--count"),
    (&["reversals", "--copies", "4294967295"], "--copies"),
    (&["syllogisms", "-n", "4294967295"], "--count"),
    (&["semantic", "-n", "4294967295"], "--count"),
    (&["semantic", "--holdouts", "4294967295"], "--holdouts"),
];

#[test]
fn bad_numbers_fail_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (index, (args, flag)) in CASES.iter().enumerate() {
        let output_file = dir.path().join(format!("out-{index}.parquet"));
        let output = Command::new(env!("CARGO_BIN_EXE_gen-facts"))
            .args(*args)
            .arg("-o")
            .arg(&output_file)
            .output()
            .unwrap();
        factlab_testkit::refusal(args, &output, flag);
        assert!(!output_file.exists(), "{args:?} left {output_file:?}");
    }
}
