//! `fit --analysis authors` on a fixture built to the formulas of Chang et al.'s released
//! analysis (`ppl_analysis.py`, `forgetting_plot.py`): t_pre = v[0], R only where LAM + t was
//! evaluated, the IQR filter (factor 2.0) on effectivity too; and the default beside it.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{
    read_rows, write_rows, EffectivityRow, Injection, ProbeKind, RetentionRow,
};

use crate::common::{injection, Score};

/// The evaluated steps: every step to 6, then sparse.
const STEPS: [u32; 10] = [0, 1, 2, 3, 4, 5, 6, 8, 12, 20];

/// Six paragraphs injected once at step 2, one probe each: ℓ rises before the injection
/// (v[0] = −6, v[2] = −5), jumps to its window maximum at step 3 and then falls 0.1 per step.
/// Probes 0–4 gain 1.0; probe 5 gains 5.0 (an outlier of effectivity), built so that its R by
/// the authors' formula equals the others'.
fn fixture(dir: &Path) {
    let injections: Vec<Injection> = (0..6).map(|k| injection(k, "once", 0, 2)).collect();
    let mut rows = Vec::new();
    for k in 0..6u32 {
        for &step in &STEPS {
            let after = f64::from(step.saturating_sub(3));
            let value = match (k, step) {
                (_, 0) => -6.0,
                (_, 1) => -5.5,
                (_, 2) => -5.0,
                (5, _) => -0.3 * after,
                _ => -4.0 - 0.1 * after,
            };
            rows.push(
                Score {
                    run_id: "mid",
                    step,
                    probe_id: k,
                    knowledge_id: k,
                    kind: ProbeKind::Memorization,
                    target: value,
                    first_token: value,
                }
                .row(),
            );
        }
    }
    write_rows(&dir.join("injections.parquet"), &injections).unwrap();
    write_rows(&dir.join("logprobs.parquet"), &rows).unwrap();
}

fn fit(dir: &Path, out: &str, analysis: &str) -> (Vec<EffectivityRow>, Vec<RetentionRow>) {
    let output = Command::cargo_bin("fit")
        .unwrap()
        .arg("--logprobs")
        .arg(dir.join("logprobs.parquet"))
        .arg("--injections")
        .arg(dir.join("injections.parquet"))
        .args([
            "--window",
            "2",
            "--iqr-factor",
            "2",
            "--analysis",
            analysis,
            "-o",
        ])
        .arg(dir.join(out))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        read_rows(&dir.join(out).join("effectivity.parquet")).unwrap(),
        read_rows(&dir.join(out).join("retention.parquet")).unwrap(),
    )
}

fn r_at(retention: &[RetentionRow], t: u32) -> Option<f64> {
    retention.iter().find(|r| r.t == t).map(|r| r.mean)
}

#[test]
fn the_authors_analysis_follows_their_formulas() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());

    let (effectivity, retention) = fit(dir.path(), "authors", "authors");
    // The IQR filter (factor 2) drops the gain of 5.0: the mean of the five gains of 1.0.
    assert_eq!(effectivity.len(), 1);
    assert!(
        (effectivity[0].mean - 1.0).abs() < 1e-12,
        "{:?}",
        effectivity[0]
    );
    assert_eq!(effectivity[0].probes, 5);
    // R = (v[LAM + t] − v[0]) / (v[LAM] − v[0]) = (v + 6) / 2 = 1 − 0.05 t, only where LAM + t
    // (LAM = 3) was evaluated: t = 1, 2, 3, 5, 9, 17 (up to the last probe's reach).
    for t in [1u32, 2, 3, 5, 9, 17] {
        let r = r_at(&retention, t).unwrap_or_else(|| panic!("no R at t = {t}: {retention:?}"));
        assert!(
            (r - (1.0 - 0.05 * f64::from(t))).abs() < 1e-12,
            "t = {t}: {r}"
        );
    }
    assert_eq!(r_at(&retention, 4), None, "LAM + 4 = 7 was not evaluated");

    let (effectivity, retention) = fit(dir.path(), "factlab", "factlab");
    // No filter on effectivity: (5 × 1.0 + 5.0) / 6.
    assert!(
        (effectivity[0].mean - 10.0 / 6.0).abs() < 1e-12,
        "{:?}",
        effectivity[0]
    );
    assert_eq!(effectivity[0].probes, 6);
    // t_pre is the injection step: R = (v + 5) / 1 = 1 − 0.1 t for probes 0–4 (probe 5's
    // 1 − 0.06 t is filtered out), read at the evaluated steps after the injection, t = step − 2,
    // between evaluations by linear interpolation: t = 4 reads v at step 7, between 6 and 8.
    assert!((r_at(&retention, 1).unwrap() - 0.9).abs() < 1e-12);
    assert!(
        (r_at(&retention, 4).unwrap() - 0.6).abs() < 1e-12,
        "{retention:?}"
    );
    // One t range for every probe: t = 18 would read step 21, past the last evaluation.
    assert_eq!(r_at(&retention, 18), None);
    assert_eq!(
        r_at(&retention, 10).map(|r| (r * 1e9).round() / 1e9),
        Some(0.0)
    );
}
