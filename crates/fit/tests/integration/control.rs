//! The never-injected control beside the scenarios: its Δℓ trajectory and the window's bias on
//! its pseudo-effectivity.

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{read_rows, write_rows, Injection, ProbeKind, TrajectoryRow};

use crate::common::{injection, Score};

const CONTROL: &str = TrajectoryRow::CONTROL_SCENARIO;

/// Paragraph 10 + c (c = 0..4) is never injected; its probe of each kind climbs steadily at its
/// own rate.
fn control_value(c: u32, kind: ProbeKind, step: u32) -> f64 {
    let per_kind = if kind == ProbeKind::Memorization {
        1.0
    } else {
        2.0
    };
    let rate = 0.01 * f64::from(1 + c) * per_kind;
    -5.0 - 0.1 * f64::from(c) + rate * f64::from(step)
}

/// Paragraphs 0..4 are injected once (scenario `once`) at steps 0, 3, 6, 9 after offset 100 and
/// jump by 1.0 after their step; paragraphs 10..14 are the control, with a memorization and a
/// semantic probe each.
fn fixture(dir: &Path, scenario: &str) {
    let injections: Vec<Injection> = (0..4u32)
        .map(|k| injection(k, scenario, 0, 100 + 3 * k))
        .collect();
    let mut rows = Vec::new();
    let mut push = |probe_id: u32, knowledge_id: u32, kind: ProbeKind, step: u32, value: f64| {
        rows.push(
            Score {
                run_id: "mid",
                step,
                probe_id,
                knowledge_id,
                kind,
                target: value,
                first_token: value,
            }
            .row(),
        )
    };
    for step in 0..=40u32 {
        for k in 0..4u32 {
            let value = -6.0 + f64::from(u8::from(step > 3 * k));
            push(k, k, ProbeKind::Memorization, step, value);
        }
        for c in 0..4u32 {
            for (offset, kind) in [(0, ProbeKind::Memorization), (50, ProbeKind::Semantic)] {
                let value = control_value(c, kind, step);
                push(20 + offset + c, 10 + c, kind, step, value);
            }
        }
    }
    write_rows(&dir.join("injections.parquet"), &injections).unwrap();
    write_rows(&dir.join("logprobs.parquet"), &rows).unwrap();
}

fn fit(dir: &Path, out: &str) -> Output {
    Command::cargo_bin("fit")
        .unwrap()
        .arg("--logprobs")
        .arg(dir.join("logprobs.parquet"))
        .arg("--injections")
        .arg(dir.join("injections.parquet"))
        .args(["--window", "5", "--step-offset", "100", "-o"])
        .arg(dir.join(out))
        .output()
        .unwrap()
}

#[test]
fn the_trajectory_holds_the_control_beside_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "once");
    let output = fit(dir.path(), "fit");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trajectory: Vec<TrajectoryRow> =
        read_rows(&dir.path().join("fit/trajectory.parquet")).unwrap();
    let scenarios: Vec<&str> = trajectory.iter().map(|r| r.scenario.as_str()).collect();
    assert!(scenarios.contains(&"once") && scenarios.contains(&CONTROL));
    for kind in [ProbeKind::Memorization, ProbeKind::Semantic] {
        let rows: Vec<&TrajectoryRow> = trajectory
            .iter()
            .filter(|r| r.scenario == CONTROL && r.kind == kind.as_str())
            .collect();
        assert_eq!(rows.len(), 41, "{kind:?}");
        for r in rows {
            let expected = (0..4)
                .map(|c| control_value(c, kind, r.step) - control_value(c, kind, 0))
                .sum::<f64>()
                / 4.0;
            assert!((r.mean_delta - expected).abs() < 1e-12, "{r:?}");
            assert_eq!(r.probes, 4);
        }
    }
    // The injected probes are not in the control, nor the control's in a scenario.
    let once_at_20 = trajectory
        .iter()
        .find(|r| r.scenario == "once" && r.step == 20)
        .unwrap();
    assert_eq!((once_at_20.mean_delta, once_at_20.probes), (1.0, 4));
    assert!(!trajectory
        .iter()
        .any(|r| r.scenario == "once" && r.kind == "semantic"));
}

#[test]
fn the_report_sets_the_window_bias_beside_the_control() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), "once");
    assert!(fit(dir.path(), "a").status.success());
    let summary = std::fs::read_to_string(dir.path().join("a/fit.md")).unwrap();
    assert!(
        summary.contains("# The window's bias on the control"),
        "{summary}"
    );
    // Steady climbs: the window of 5 steps rises by 5 × rate, 0.125 on average over the
    // memorization probes (0.25 over the semantic ones); a straight line leaves no noise, so the
    // no-trend null is 0.
    for (kind, rise) in [("memorization", 0.125), ("semantic", 0.25)] {
        let start = format!("| mid | {kind} | 4 | {rise:.4} | ");
        let row = summary
            .lines()
            .find(|line| line.starts_with(&start))
            .unwrap_or_else(|| panic!("`{start}` not in\n{summary}"));
        let null: f64 = row.split('|').nth(5).unwrap().trim().parse().unwrap();
        assert!(null.abs() < 1e-4, "{row}");
    }
    assert!(fit(dir.path(), "b").status.success());
    assert_eq!(
        summary,
        std::fs::read_to_string(dir.path().join("b/fit.md")).unwrap()
    );
}

#[test]
fn a_scenario_named_like_the_control_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path(), CONTROL);
    let output = fit(dir.path(), "fit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("injections.parquet: column `scenario`, row 0: `control` names the never-injected paragraphs"),
        "{stderr}"
    );
}
