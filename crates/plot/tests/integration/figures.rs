//! `plot` draws every figure from metric tables and writes the plotted numbers beside it.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{
    write_rows, Answer, ChoiceAccuracyRow, DecayRow, EffectivityRow, Injection, LinearProbeRow,
    ProbeKind, RetentionRow, TrajectoryRow, ATTRIBUTES,
};

const SCENARIOS: [&str; 3] = ["paraphrase", "duplicate", "once"];

/// Metric tables with distinct, recognisable values for runs `early`, `late`, `small`, `large`.
fn tables(dir: &Path) {
    let runs = ["early", "late", "small", "large"];
    let mut effectivity = Vec::new();
    let mut retention = Vec::new();
    let mut decay = Vec::new();
    let mut trajectory = Vec::new();
    let mut injections = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for (k, kind) in ProbeKind::ALL.iter().enumerate() {
                let key = || {
                    (
                        run.to_string(),
                        scenario.to_string(),
                        kind.as_str().to_string(),
                    )
                };
                let mean = 0.1 * (3 - k) as f64 + 0.01 * r as f64 + 0.001 * s as f64;
                let (run_id, scenario_name, kind_name) = key();
                effectivity.push(EffectivityRow {
                    run_id,
                    scenario: scenario_name,
                    kind: kind_name,
                    mean,
                    ci_low: mean - 0.02,
                    ci_high: mean + 0.02,
                    probes: 40,
                    injections: 400,
                    lam_at_window_end: 0.1,
                    first_token_mean: mean,
                    first_token_ci_low: mean - 0.03,
                    first_token_ci_high: mean + 0.03,
                    control_mean: 0.05,
                    control_ci_low: 0.04,
                    control_ci_high: 0.06,
                    control_probes: 20,
                    net_mean: mean - 0.05,
                    net_ci_low: mean - 0.08,
                    net_ci_high: mean - 0.02,
                    first_token_net_mean: mean - 0.06,
                    first_token_net_ci_low: mean - 0.09,
                    first_token_net_ci_high: mean - 0.03,
                    specificity_mean: None,
                    specificity_ci_low: None,
                    specificity_ci_high: None,
                    specificity_net_mean: None,
                    specificity_net_ci_low: None,
                    specificity_net_ci_high: None,
                });
                let a = 0.1 + 0.05 * k as f64 + 0.1 * r as f64;
                for t in [0u32, 1, 2, 5, 10, 20, 50, 100] {
                    let (run_id, scenario, kind) = key();
                    let mean = if t == 0 {
                        1.0
                    } else {
                        1.0 - a * (t as f64).log10()
                    };
                    retention.push(RetentionRow {
                        run_id,
                        scenario,
                        kind,
                        t,
                        mean,
                        probes: 40,
                    });
                }
                let (run_id, scenario, kind) = key();
                decay.push(DecayRow {
                    run_id,
                    scenario,
                    kind,
                    a,
                    a_stderr: 0.01,
                    a_ci_low: a - 0.02,
                    a_ci_high: a + 0.02,
                    intercept: 1.0,
                    r_squared: 0.97,
                    x_intercept_log10_steps: 1.0 / a,
                    x_intercept_log10_steps_ci_low: 1.0 / a - 0.1,
                    x_intercept_log10_steps_ci_high: 1.0 / a + 0.1,
                    x_intercept_log10_tokens: 1.0 / a + 3.0,
                    tokens_per_step: 1000.0 * (r + 1) as f64,
                    points: 7,
                });
                for step in 0..60u32 {
                    let (run_id, scenario, kind) = key();
                    let mean_delta = mean * ((step / 10) as f64).min(3.0);
                    trajectory.push(TrajectoryRow {
                        run_id,
                        scenario,
                        kind,
                        step,
                        mean_delta,
                        probes: 40,
                    });
                }
            }
            injections.push(Injection {
                knowledge_id: s as u32,
                scenario: scenario.to_string(),
                exposure: 0,
                step: 100 + 10 * s as u32,
                row: 0,
                variant: 0,
                offset: 0,
                length: 5,
                text_tokens: 5,
            });
        }
        // The control: kind k climbs to 0.05 (k + 1) over probes 10 (k + 1), so at step 59 its
        // kinds pooled are (0.15 · 10 + 0.30 · 20 + 0.45 · 30) / 60 = 0.35.
        for (k, kind) in ProbeKind::ALL.iter().enumerate() {
            for step in 0..60u32 {
                trajectory.push(TrajectoryRow {
                    run_id: run.to_string(),
                    scenario: TrajectoryRow::CONTROL_SCENARIO.to_string(),
                    kind: kind.as_str().to_string(),
                    step,
                    mean_delta: 0.05 * (k + 1) as f64 * ((step / 10) as f64).min(3.0),
                    probes: 10 * (k as u32 + 1),
                });
            }
        }
    }
    write_rows(&dir.join("effectivity.parquet"), &effectivity).unwrap();
    write_rows(&dir.join("retention.parquet"), &retention).unwrap();
    write_rows(&dir.join("decay.parquet"), &decay).unwrap();
    write_rows(&dir.join("trajectory.parquet"), &trajectory).unwrap();
    write_rows(&dir.join("injections.parquet"), &injections).unwrap();
}

/// `plot` run in `dir` with `args`.
pub(crate) fn plot(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("plot")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn every_figure_is_drawn_with_its_table() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    // figure, its arguments, the PNG's size, a row its table must hold
    type Case<'a> = (&'a str, Vec<&'a str>, (u32, u32), &'a str);
    let cases: [Case; 4] = [
        (
            "fig3",
            vec![
                "--effectivity",
                "effectivity.parquet",
                "--left",
                "early,late",
                "--right",
                "small,large",
            ],
            (1240, 460),
            "| model size | large | once | composition | 0.1320 | [0.1120, 0.1520] | 0.0500 | 0.0820 | [0.0520, 0.1120] |",
        ),
        (
            "fig2",
            vec![
                "--trajectory",
                "trajectory.parquet",
                "--injections",
                "injections.parquet",
                "--run",
                "late",
                "--step-offset",
                "100",
            ],
            // Three panels: the control is drawn in each, not in a panel of its own.
            (900, 780),
            "| duplicate | 59 | 0.9330 | 0.6330 | 0.3330 | 0.6330 |",
        ),
        (
            "fig4",
            vec![
                "--retention",
                "retention.parquet",
                "--decay",
                "decay.parquet",
                "--run",
                "small",
            ],
            (1440, 420),
            "| paraphrase | semantic | 0.3500 | 0.0100 | 0.970 | 2.86 | 7 |",
        ),
        (
            "fig5",
            vec![
                "--retention",
                "retention.parquet",
                "--decay",
                "decay.parquet",
                "--runs",
                "early,large",
            ],
            (1440, 420),
            "| large | composition | 4000 | 0.5000 | 0.0100 | 5.00 |",
        ),
    ];
    for (figure, args, size, row) in cases {
        let prefix = format!("out/{figure}");
        let mut full = vec![figure];
        full.extend(args);
        full.extend(["-o", &prefix]);
        let output = plot(dir.path(), &full);
        assert!(
            output.status.success(),
            "{figure}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let base = dir.path().join(&prefix);
        assert_eq!(png_size(&base.with_extension("png")), size, "{figure}");
        let svg = std::fs::read_to_string(base.with_extension("svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("mem"),
            "{figure} svg"
        );
        let table = std::fs::read_to_string(base.with_extension("md")).unwrap();
        assert!(table.contains(row), "{figure}: `{row}` not in\n{table}");
    }
}

#[test]
fn fig2_draws_the_control_in_every_panel_and_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    let args = [
        "fig2",
        "--trajectory",
        "trajectory.parquet",
        "--injections",
        "injections.parquet",
        "--run",
        "early",
        "-o",
        "fig2",
    ];
    let output = plot(dir.path(), &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = std::fs::read_to_string(dir.path().join("fig2.md")).unwrap();
    let control: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| control |"))
        .collect();
    assert_eq!(control.len(), 60, "{table}");
    assert!(
        control.contains(&"| control | 59 | 0.1500 | 0.3000 | 0.4500 | 0.3500 |"),
        "{table}"
    );
    // The control's rows come after every scenario's.
    let lines: Vec<&str> = table.lines().collect();
    let last_scenario_row = lines.iter().rposition(|l| l.starts_with("| once |"));
    let first_control_row = lines.iter().position(|l| l.starts_with("| control |"));
    assert!(last_scenario_row < first_control_row, "{table}");
    let svg = std::fs::read_to_string(dir.path().join("fig2.svg")).unwrap();
    assert_eq!(svg.matches("control (never injected)").count(), 3);
}

#[test]
fn unknown_runs_are_named_with_the_ones_present() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    let output = plot(
        dir.path(),
        &[
            "fig3",
            "--effectivity",
            "effectivity.parquet",
            "--left",
            "mid",
            "-o",
            "x",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("effectivity.parquet: no rows for run `mid`; runs in the file: early, large, late, small"), "{stderr}");
}

/// Q-probes are read at the deepest layer and set beside the QA accuracy computed from answers.
#[test]
fn q_probes_are_drawn_beside_qa_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut probes = Vec::new();
    let mut answers = Vec::new();
    for (a, attribute) in ATTRIBUTES.iter().enumerate() {
        for layer in [0u32, 2] {
            probes.push(LinearProbeRow {
                layer,
                position: "name_end".into(),
                task: attribute.to_string(),
                train_examples: 50,
                test_examples: 50,
                classes: 10,
                // Layer 0 is planted far off so that reading it would show.
                accuracy: if layer == 2 { 0.1 * a as f64 } else { 0.99 },
                baseline: 0.05,
                ceiling: 0.9,
                ridge: 0.01,
            });
        }
        // `a` right answers out of 10.
        for person in 0..10u32 {
            answers.push(Answer {
                person_id: person,
                attribute: attribute.to_string(),
                split: "test".into(),
                question: String::new(),
                answer: "x".into(),
                generated: "x".into(),
                exact_match: u32::from(person < a as u32),
                first_token_match: 0,
            });
        }
    }
    write_rows(&dir.path().join("q.parquet"), &probes).unwrap();
    write_rows(&dir.path().join("answers.parquet"), &answers).unwrap();
    let output = plot(
        dir.path(),
        &[
            "q-probe-qa",
            "--probes",
            "q.parquet",
            "--answers",
            "answers.parquet",
            "--variants",
            "single",
            "-o",
            "out/q",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = std::fs::read_to_string(dir.path().join("out/q.md")).unwrap();
    assert!(table.contains("## single (Q-probe layer 2)"), "{table}");
    assert!(
        table.contains("| major | 30.0 | 5.0 | 90.0 | 30.0 |"),
        "{table}"
    );
    assert!(
        table.contains("| company_city | 50.0 | 5.0 | 90.0 | 50.0 |"),
        "{table}"
    );
    assert_eq!(png_size(&dir.path().join("out/q.png")), (480, 440));

    // Answers without Q-probe rows are refused, naming the file.
    let output = plot(
        dir.path(),
        &[
            "q-probe-qa",
            "--probes",
            "answers.parquet",
            "--answers",
            "answers.parquet",
            "--variants",
            "single",
            "-o",
            "out/bad",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("answers.parquet"), "{stderr}");
}

/// One panel per dataset, conditions as bars; the table shows accuracy and its interval per
/// split, and names the verbatim oracle as a recall bound.
#[test]
fn icl_against_finetuning_is_drawn_per_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let row = |condition: &str, split: &str, accuracy: f64| ChoiceAccuracyRow {
        condition: condition.into(),
        split: split.into(),
        questions: 100,
        accuracy,
        low: accuracy - 0.1,
        high: accuracy + 0.05,
        subsets: 2,
        chance: 0.5,
    };
    let reversals = vec![
        row("finetuned", "reversals", 0.5),
        row("icl", "reversals", 0.9),
        row("augmented-rules", "reversals", 0.95),
    ];
    let semantic = vec![
        row("finetuned", "reversals", 0.6),
        row("finetuned", "syllogisms", 0.3),
        row("icl", "syllogisms", 0.7),
    ];
    write_rows(&dir.path().join("a.parquet"), &reversals).unwrap();
    write_rows(&dir.path().join("b.parquet"), &semantic).unwrap();
    let output = plot(
        dir.path(),
        &[
            "icl-vs-finetune",
            "--accuracy",
            "a.parquet",
            "b.parquet",
            "--datasets",
            "reversals,semantic",
            "-o",
            "out/icl",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = std::fs::read_to_string(dir.path().join("out/icl.md")).unwrap();
    for expected in [
        "## reversals",
        "| split | chance | finetuned | icl | augmented-rules (test wording: recall bound) |",
        "| reversals | 50.0 | 50.0 [40.0, 55.0] | 90.0 [80.0, 95.0] | 95.0 [85.0, 100.0] |",
        "## semantic",
        "| syllogisms | 50.0 | 30.0 [20.0, 35.0] | 70.0 [60.0, 75.0] |",
        "| reversals | 50.0 | 60.0 [50.0, 65.0] | – |",
    ] {
        assert!(table.contains(expected), "`{expected}` not in\n{table}");
    }
    // Panels side by side: 300 + 170 per split each.
    assert_eq!(png_size(&dir.path().join("out/icl.png")), (470 + 640, 480));
}
