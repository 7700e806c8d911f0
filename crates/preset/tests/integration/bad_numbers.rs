//! A preset value that no flag takes (NaN, ±inf) is refused by `preset`, naming the key
//! (issue 12); every other value is checked by the flag it becomes.

use std::process::Command;

#[test]
fn non_finite_values_fail_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[train]\nlr = nan\n", "`train.lr`"),
        ("[train]\nlr = inf\n", "`train.lr`"),
        ("[fit]\niqr_factor = -inf\n", "`fit.iqr_factor`"),
        ("[knowledge]\nwords = [45.0, nan]\n", "`knowledge.words`"),
    ] {
        let path = dir.path().join("preset.toml");
        std::fs::write(&path, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_preset"))
            .arg(&path)
            .output()
            .unwrap();
        let stderr = factlab_testkit::refusal(text, &output, key);
        assert!(stderr.contains("expected a finite number"), "{stderr}");
        assert!(output.stdout.is_empty(), "{text}: printed variables");
    }
}
