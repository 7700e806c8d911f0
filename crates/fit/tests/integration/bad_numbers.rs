//! Bad numbers on `fit`'s command line (issue 12): each fails at once, with a non-zero exit, no
//! panic, a message naming the flag, and no output.

use std::process::Command;

/// (arguments, what the message must contain)
const CASES: &[(&[&str], &str)] = &[
    (&["--window", "4294967295"], "--window"),
    (&["--window", "0"], "--window"),
    (&["--window", "-1"], "--window"),
    (&["--iqr-factor", "-3"], "--iqr-factor"),
    (&["--iqr-factor", "NaN"], "--iqr-factor"),
    (&["--iqr-factor", "inf"], "--iqr-factor"),
    (&["--bootstrap", "0"], "--bootstrap"),
    (&["--bootstrap", "99"], "--bootstrap"),
    (&["--bootstrap", "18446744073709551615"], "--bootstrap"),
    (&["--bootstrap", "100001"], "--bootstrap"),
    (&["--tokens-per-step", "0"], "--tokens-per-step"),
    (&["--tokens-per-step", "NaN"], "--tokens-per-step"),
    (&["--tokens-per-step", "-5"], "--tokens-per-step"),
    (&["--step-offset", "4294967295"], "--step-offset"),
];

/// `fit linear-probe` flags.
const PROBE_CASES: &[(&[&str], &str)] = &[
    (&["--ridge", "0"], "--ridge"),
    (&["--ridge", "-1"], "--ridge"),
    (&["--ridge", "NaN"], "--ridge"),
];

#[test]
fn bad_numbers_fail_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let fit = |index: usize, head: &[&str], args: &[&str]| {
        let out = dir.path().join(format!("out-{index}"));
        let output = Command::new(env!("CARGO_BIN_EXE_fit"))
            .current_dir(dir.path())
            .args(head)
            .args(args)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        (output, out)
    };
    let effectivity: &[&str] = &[
        "--logprobs",
        "logprobs.parquet",
        "--injections",
        "injections.parquet",
    ];
    let probe: &[&str] = &[
        "linear-probe",
        "--hidden",
        "hidden.parquet",
        "--people",
        "people.parquet",
    ];
    let cases = CASES.iter().map(|(args, flag)| (effectivity, args, flag));
    let probe_cases = PROBE_CASES.iter().map(|(args, flag)| (probe, args, flag));
    for (index, (head, args, flag)) in cases.chain(probe_cases).enumerate() {
        let (output, out) = fit(index, head, args);
        let stderr = factlab_testkit::refusal(args, &output, flag);
        assert!(stderr.contains("expected"), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} left {out:?}");
    }
}
