//! What the stages' tests share (a dev-dependency only): the checks of the bad-input tables of
//! issue 12, so that every stage's table holds its cases to the same rule.

use std::fmt::Debug;
use std::process::Output;

/// Checks that a stage run on `case` refused it cleanly: a non-zero exit, no panic, and a message
/// naming `names` (the flag, key, file or column at fault). Returns the message, for the
/// caller's own checks.
pub fn refusal(case: impl Debug, output: &Output, names: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{case:?} succeeded");
    assert!(!stderr.contains("panicked"), "{case:?} panicked: {stderr}");
    assert!(stderr.contains(names), "{case:?}: no {names} in {stderr}");
    stderr
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::refusal;

    fn shell(script: &str) -> std::process::Output {
        Command::new("sh").args(["-c", script]).output().unwrap()
    }

    #[test]
    fn a_clean_refusal_passes_and_returns_the_message() {
        let output = shell("echo 'Error: --lr is NaN; expected a finite number' >&2; exit 2");
        let message = refusal("--lr NaN", &output, "--lr");
        assert!(message.contains("expected a finite number"), "{message}");
    }

    #[test]
    #[should_panic(expected = "succeeded")]
    fn a_success_fails() {
        refusal("--lr NaN", &shell("echo --lr >&2"), "--lr");
    }

    #[test]
    #[should_panic(expected = "panicked")]
    fn a_panic_fails() {
        let output = shell("echo \"thread 'main' panicked at src/main.rs: --lr\" >&2; exit 101");
        refusal("--lr NaN", &output, "--lr");
    }

    #[test]
    #[should_panic(expected = "no --lr")]
    fn a_message_without_the_name_fails() {
        refusal(
            "--lr NaN",
            &shell("echo 'Error: bad number' >&2; exit 2"),
            "--lr",
        );
    }
}
