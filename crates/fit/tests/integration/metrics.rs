//! `fit` on logprob series built so that every metric has a known value.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::outputs::{
    seal_together, seal_together_made_from, write_rows_made_from, write_rows_unsealed,
};
use factlab_artifacts::{
    read_rows, write_rows, Artifact, DecayRow, EffectivityRow, Injection, Knowledge, LogprobRow,
    ProbeKind, RetentionRow, TrajectoryRow,
};

use crate::common::{injection, Score};

const ONCE_SLOPES: [f64; 6] = [0.28, 0.29, 0.30, 0.31, 0.32, 3.0];

/// Knowledge 0..6 are injected once at step 0: ℓ climbs to a maximum at step 3 (gain 1.0) and then
/// loses a share `slope · log10 τ` of the gain τ steps later; the last probe forgets ten times
/// faster and is the outlier. Knowledge 6 is injected at 0, 10 and 20 and gains 0.5 each time.
/// Knowledge 7 is injected once at 0 and still rising when the window ends.
fn fixture(dir: &Path) {
    let mut injections: Vec<Injection> = (0..6).map(|k| injection(k, "once", 0, 100)).collect();
    injections.extend((0..3).map(|i| injection(6, "duplicate", i, 100 + 10 * i)));
    injections.push(injection(7, "rising", 0, 100));
    let mut rows = Vec::new();
    let mut push = |probe_id: u32, knowledge_id: u32, step: u32, value: f64| {
        rows.push(
            Score {
                run_id: "mid",
                step,
                probe_id,
                knowledge_id,
                kind: ProbeKind::Memorization,
                target: value,
                first_token: 2.0 * value,
            }
            .row(),
        )
    };
    for step in 0..=200u32 {
        for (k, slope) in ONCE_SLOPES.iter().enumerate() {
            let value = match step {
                0 => -5.0,
                1 => -4.5,
                2 => -4.2,
                s => -4.0 - slope * f64::from(s - 3).max(1.0).log10(),
            };
            push(k as u32, k as u32, step, value);
        }
        let exposures_before = [0, 10, 20].iter().filter(|&&t| t < step).count();
        push(6, 6, step, -6.0 + 0.5 * exposures_before as f64);
        push(7, 7, step, -6.0 + 0.1 * f64::from(step.min(50)));
    }
    write_rows(&dir.join("injections.parquet"), &injections).unwrap();
    write_rows(&dir.join("logprobs.parquet"), &rows).unwrap();
}

fn run_fit(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    Command::cargo_bin("fit")
        .unwrap()
        .args(["--logprobs"])
        .arg(dir.join("logprobs.parquet"))
        .arg("--injections")
        .arg(dir.join("injections.parquet"))
        .args([
            "--window",
            "5",
            "--step-offset",
            "100",
            "--tokens-per-step",
            "1000",
            "-o",
        ])
        .arg(dir.join(out))
        .args(extra)
        .output()
        .unwrap()
}

/// `fit` with default settings on files of `dir`, into `dir/out`.
fn fit_into_out(dir: &Path, logprobs: &[&str], injections: &str) -> std::process::Output {
    Command::cargo_bin("fit")
        .unwrap()
        .arg("--logprobs")
        .args(logprobs.iter().map(|name| dir.join(name)))
        .arg("--injections")
        .arg(dir.join(injections))
        .arg("-o")
        .arg(dir.join("out"))
        .output()
        .unwrap()
}

#[test]
fn metrics_match_the_constructed_series() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let output = run_fit(dir.path(), "fit", &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = dir.path().join("fit");

    let effectivity: Vec<EffectivityRow> = read_rows(&out.join("effectivity.parquet")).unwrap();
    let find = |scenario: &str| effectivity.iter().find(|r| r.scenario == scenario).unwrap();
    let once = find("once");
    assert!(
        (once.mean - 1.0).abs() < 1e-12 && once.probes == 6 && once.injections == 6,
        "{once:?}"
    );
    assert!((once.ci_low - 1.0).abs() < 1e-12 && (once.ci_high - 1.0).abs() < 1e-12);
    let duplicate = find("duplicate");
    assert!(
        (duplicate.mean - 0.5).abs() < 1e-12 && duplicate.injections == 3,
        "{duplicate:?}"
    );
    // Maxima inside the window, then one cut by it (window 5: the gain is 5 × 0.1).
    assert_eq!(
        (once.lam_at_window_end, duplicate.lam_at_window_end),
        (0.0, 0.0)
    );
    let rising = find("rising");
    assert!((rising.mean - 0.5).abs() < 1e-9, "{rising:?}");
    assert_eq!(rising.lam_at_window_end, 1.0);
    for r in [once, duplicate, rising] {
        assert!((r.first_token_mean - 2.0 * r.mean).abs() < 1e-9, "{r:?}");
        assert!(
            r.first_token_ci_low <= r.first_token_mean
                && r.first_token_mean <= r.first_token_ci_high
        );
    }

    let decay: Vec<DecayRow> = read_rows(&out.join("decay.parquet")).unwrap();
    let once = decay.iter().find(|d| d.scenario == "once").unwrap();
    assert!(
        (once.a - 0.30).abs() < 1e-9,
        "the outlier was not filtered: {once:?}"
    );
    assert!(
        (once.intercept - 1.0).abs() < 1e-9 && once.r_squared > 0.999_999,
        "{once:?}"
    );
    assert!((once.x_intercept_log10_steps - 1.0 / 0.30).abs() < 1e-6);
    assert!((once.x_intercept_log10_tokens - once.x_intercept_log10_steps - 3.0).abs() < 1e-9);

    let retention: Vec<RetentionRow> = read_rows(&out.join("retention.parquet")).unwrap();
    let at = |t: u32| {
        retention
            .iter()
            .find(|r| r.scenario == "once" && r.t == t)
            .unwrap()
    };
    assert_eq!(at(0).mean, 1.0);
    assert!((at(100).mean - (1.0 - 0.30 * 2.0)).abs() < 1e-9 && at(100).probes == 5);

    let trajectory: Vec<TrajectoryRow> = read_rows(&out.join("trajectory.parquet")).unwrap();
    let dup = |step: u32| {
        trajectory
            .iter()
            .find(|r| r.scenario == "duplicate" && r.step == step)
            .unwrap()
    };
    assert_eq!(
        (dup(0).mean_delta, dup(15).mean_delta, dup(200).mean_delta),
        (0.0, 1.0, 1.5)
    );

    let summary = std::fs::read_to_string(out.join("fit.md")).unwrap();
    assert!(
        summary.contains("| mid | once | memorization | 1.0000 |"),
        "{summary}"
    );
    // Every probed paragraph was injected: no control, so no net value.
    assert!(effectivity
        .iter()
        .all(|r| r.control_probes == 0 && r.net_mean.is_nan() && r.control_mean.is_nan()));

    // A filter loose enough to keep the outlier moves the decay constant to the mean slope.
    let loose = run_fit(dir.path(), "loose", &["--iqr-factor", "1000"]);
    assert!(loose.status.success());
    let decay: Vec<DecayRow> = read_rows(&dir.path().join("loose/decay.parquet")).unwrap();
    let mean_slope = ONCE_SLOPES.iter().sum::<f64>() / 6.0;
    assert!((decay.iter().find(|d| d.scenario == "once").unwrap().a - mean_slope).abs() < 1e-9);
}

/// Every probe drifts up by 0.02 per step (control probe c by 0.02 × (1 + 0.1 c)); the injected
/// paragraphs also jump by their own gain after each of their own injection steps: once paragraph
/// k by 1.0 after step 3k (a spread round, so a window taken from another paragraph's step misses
/// the jump), duplicate paragraphs by 0.5 after 0, 10 and 20.
/// Paragraphs 8-11 are never injected.
fn shared_rise_fixture(dir: &Path) {
    let mut injections: Vec<Injection> = (0..4)
        .map(|k| injection(k, "once", 0, 100 + 3 * k))
        .collect();
    for k in 4..8 {
        injections.extend((0..3).map(|i| injection(k, "duplicate", i, 100 + 10 * i)));
    }
    let mut rows = Vec::new();
    for step in 0..=40u32 {
        let drift = 0.02 * f64::from(step);
        for k in 0..12u32 {
            let own = match k {
                0..=3 => f64::from(u8::from(step > 3 * k)),
                4..=7 => 0.5 * [0, 10, 20].iter().filter(|&&t| t < step).count() as f64,
                c => drift * 0.1 * f64::from(c - 8),
            };
            let value = -6.0 + drift + own;
            rows.push(
                Score {
                    run_id: "mid",
                    step,
                    probe_id: k,
                    knowledge_id: k,
                    kind: ProbeKind::Memorization,
                    target: value,
                    first_token: 2.0 * value,
                }
                .row(),
            );
        }
    }
    write_rows(&dir.join("injections.parquet"), &injections).unwrap();
    write_rows(&dir.join("logprobs.parquet"), &rows).unwrap();
}

#[test]
fn net_effectivity_removes_the_rise_every_probe_shares() {
    let dir = tempfile::tempdir().unwrap();
    shared_rise_fixture(dir.path());
    let output = run_fit(dir.path(), "fit", &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let effectivity: Vec<EffectivityRow> =
        read_rows(&dir.path().join("fit/effectivity.parquet")).unwrap();
    // Window 5: the drift adds 0.1 to every injected gain; control probe c gains
    // 0.1 × (1 + 0.1 c) from any step, 0.115 on average over c = 0..3.
    let control = 0.1 * (1.0 + 0.1 * 1.5);
    for (scenario, own) in [("once", 1.0), ("duplicate", 0.5)] {
        let r = effectivity.iter().find(|r| r.scenario == scenario).unwrap();
        assert!((r.mean - (own + 0.1)).abs() < 1e-9, "{r:?}");
        assert_eq!((r.probes, r.control_probes), (4, 4));
        assert!((r.control_mean - control).abs() < 1e-9, "{r:?}");
        assert!((r.net_mean - (own + 0.1 - control)).abs() < 1e-9, "{r:?}");
        assert!(r.control_ci_low < r.control_mean && r.control_mean < r.control_ci_high);
        // The injected gains are all equal, so the net interval is the control's, mirrored.
        assert!(
            (r.net_ci_low - (r.mean - r.control_ci_high)).abs() < 0.02,
            "{r:?}"
        );
        assert!(
            r.net_ci_low < r.net_mean && r.net_mean < r.net_ci_high,
            "{r:?}"
        );
        assert!(
            (r.first_token_net_mean - 2.0 * r.net_mean).abs() < 1e-9,
            "{r:?}"
        );
    }
    let summary = std::fs::read_to_string(dir.path().join("fit/fit.md")).unwrap();
    assert!(
        summary.contains("| mid | once | memorization | 1.1000 |"),
        "{summary}"
    );
}

#[test]
fn reruns_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    assert!(run_fit(dir.path(), "a", &[]).status.success());
    assert!(run_fit(dir.path(), "b", &[]).status.success());
    for file in [
        "effectivity.parquet",
        "retention.parquet",
        "decay.parquet",
        "trajectory.parquet",
        "fit.md",
    ] {
        let a = std::fs::read(dir.path().join("a").join(file)).unwrap();
        assert_eq!(
            a,
            std::fs::read(dir.path().join("b").join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn misaligned_steps_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let output = Command::cargo_bin("fit")
        .unwrap()
        .arg("--logprobs")
        .arg(dir.path().join("logprobs.parquet"))
        .arg("--injections")
        .arg(dir.path().join("injections.parquet"))
        .args(["--step-offset", "500", "-o"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("injection step 100 is before --step-offset 500"),
        "{stderr}"
    );
}

#[test]
fn two_files_of_one_run_id_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    std::fs::copy(
        dir.path().join("logprobs.parquet"),
        dir.path().join("copy.parquet"),
    )
    .unwrap();
    let output = fit_into_out(
        dir.path(),
        &["logprobs.parquet", "copy.parquet"],
        "injections.parquet",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("logprobs.parquet") && stderr.contains("copy.parquet"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/effectivity.parquet").exists());
}

/// Logprobs record the injections their shards were packed with (`inject` → manifest → `train`);
/// given the injections of another `inject` run, `fit` refuses, naming both files.
#[test]
fn injections_of_another_inject_run_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let injections: Vec<Injection> = read_rows(&dir.path().join("injections.parquet")).unwrap();
    let logprobs: Vec<LogprobRow> = read_rows(&dir.path().join("logprobs.parquet")).unwrap();
    let seal = |path: &Path, rows: &[Injection]| {
        seal_together(vec![write_rows_unsealed(path, rows).unwrap()]).unwrap()
    };
    let ours = seal(&dir.path().join("injections.parquet"), &injections);
    let mut moved = injections.clone();
    moved[0].step += 1;
    let theirs = seal(&dir.path().join("other-injections.parquet"), &moved);
    assert_ne!(ours, theirs);
    write_rows_made_from(
        &dir.path().join("logprobs.parquet"),
        &logprobs,
        &[(Injection::NAME, &ours)],
    )
    .unwrap();

    assert!(run_fit(dir.path(), "fit", &[]).status.success());
    let output = fit_into_out(
        dir.path(),
        &["logprobs.parquet"],
        "other-injections.parquet",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("logprobs.parquet") && stderr.contains("other-injections.parquet"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&ours) && stderr.contains(&theirs),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

/// Injections and logprobs both record the knowledge set they come from (`inject --inject`, and
/// `train --probes` through the probes' set); from two `gen-facts` runs they are refused.
#[test]
fn injections_and_logprobs_of_different_knowledge_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let injections: Vec<Injection> = read_rows(&dir.path().join("injections.parquet")).unwrap();
    let logprobs: Vec<LogprobRow> = read_rows(&dir.path().join("logprobs.parquet")).unwrap();
    let file = write_rows_unsealed(&dir.path().join("injections.parquet"), &injections).unwrap();
    seal_together_made_from(vec![file], &[(Knowledge::NAME, "00000000000000aa")]).unwrap();
    let knowledge = |id: &str| {
        write_rows_made_from(
            &dir.path().join("logprobs.parquet"),
            &logprobs,
            &[(Knowledge::NAME, id)],
        )
        .unwrap();
        run_fit(dir.path(), "fit", &[])
    };
    assert!(knowledge("00000000000000aa").status.success());
    let output = knowledge("00000000000000bb");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("logprobs.parquet") && stderr.contains("injections.parquet"),
        "{stderr}"
    );
    assert!(
        stderr.contains("00000000000000bb") && stderr.contains("knowledge"),
        "{stderr}"
    );
}
