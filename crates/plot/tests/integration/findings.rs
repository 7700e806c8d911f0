//! `plot findings` judges fit's tables and draws by the rule of docs/fidelity.md.

use std::path::Path;

use factlab_artifacts::{write_rows, DecayRow, DrawRow, EffectivityRow, ProbeKind};

use crate::figures::plot;

const RUNS: [&str; 4] = ["small-early", "small-mid", "small-late", "large-mid"];
const SCENARIOS: [&str; 3] = ["paraphrase", "duplicate", "once"];
const DRAWS: u32 = 400;

/// A value in [−1, 1) that looks random and differs between groups and draws.
fn jitter(group: u64, draw: u32) -> f64 {
    let mut x = group
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(draw).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % 2_000_000) as f64 / 1_000_000.0 - 1.0
}

/// Net effectivity 0.25 / 0.15 / 0.05 by kind in every run and scenario (scenarios 0.001 apart),
/// each group's draws spread ±0.02 about it; decay constants rising with the kind, so that
/// composition decays fastest.
fn tables(dir: &Path) {
    let (mut effectivity, mut decay, mut draws) = (Vec::new(), Vec::new(), Vec::new());
    let mut group = 0u64;
    for run in RUNS {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for (k, kind) in ProbeKind::ALL.iter().enumerate() {
                group += 1;
                let net = 0.1 * (2 - k) as f64 + 0.05 + 0.001 * s as f64;
                let a = 0.1 + 0.05 * k as f64;
                let (run_id, scenario, kind) = (
                    run.to_string(),
                    scenario.to_string(),
                    kind.as_str().to_string(),
                );
                effectivity.push(EffectivityRow {
                    run_id: run_id.clone(),
                    scenario: scenario.clone(),
                    kind: kind.clone(),
                    mean: net + 0.25,
                    ci_low: net + 0.23,
                    ci_high: net + 0.27,
                    probes: 40,
                    injections: 120,
                    lam_at_window_end: 0.1,
                    first_token_mean: net + 0.25,
                    first_token_ci_low: net + 0.2,
                    first_token_ci_high: net + 0.3,
                    control_mean: 0.25,
                    control_ci_low: 0.24,
                    control_ci_high: 0.26,
                    control_probes: 40,
                    net_mean: net,
                    net_ci_low: net - 0.02,
                    net_ci_high: net + 0.02,
                    first_token_net_mean: net,
                    first_token_net_ci_low: net - 0.05,
                    first_token_net_ci_high: net + 0.05,
                    specificity_mean: Some(net / 2.0),
                    specificity_ci_low: Some(net / 2.0 - 0.02),
                    specificity_ci_high: Some(net / 2.0 + 0.02),
                    specificity_net_mean: Some(net / 2.0),
                    specificity_net_ci_low: Some(net / 2.0 - 0.02),
                    specificity_net_ci_high: Some(net / 2.0 + 0.02),
                });
                decay.push(DecayRow {
                    run_id: run_id.clone(),
                    scenario: scenario.clone(),
                    kind: kind.clone(),
                    a,
                    a_stderr: 0.001,
                    a_ci_low: a - 0.01,
                    a_ci_high: a + 0.01,
                    intercept: 1.0,
                    r_squared: 0.9,
                    x_intercept_log10_steps: 1.0 / a,
                    x_intercept_log10_steps_ci_low: 1.0 / a - 0.1,
                    x_intercept_log10_steps_ci_high: 1.0 / a + 0.1,
                    x_intercept_log10_tokens: 1.0 / a + 3.0,
                    tokens_per_step: 1000.0,
                    points: 20,
                });
                for draw in 0..DRAWS {
                    let u = jitter(group, draw);
                    draws.push(DrawRow {
                        run_id: run_id.clone(),
                        scenario: scenario.clone(),
                        kind: kind.clone(),
                        draw,
                        effectivity: net + 0.25 + 0.02 * u,
                        control: Some(0.25),
                        net: Some(net + 0.02 * u),
                        first_token_net: Some(net + 0.05 * u),
                        specificity_net: Some(net / 2.0 + 0.02 * u),
                        decay_a: Some(a + 0.005 * jitter(group + 1000, draw)),
                        x_intercept_log10_steps: Some(1.0 / a),
                    });
                }
            }
        }
    }
    write_rows(&dir.join("effectivity.parquet"), &effectivity).unwrap();
    write_rows(&dir.join("decay.parquet"), &decay).unwrap();
    write_rows(&dir.join("draws.parquet"), &draws).unwrap();
}

fn findings(dir: &Path, seeds: usize, out: &str) -> String {
    let mut args = vec!["findings"];
    for flag in ["--effectivity", "--decay", "--draws"] {
        args.push(flag);
        let file = &flag[2..];
        for _ in 0..seeds {
            args.push(match file {
                "effectivity" => "effectivity.parquet",
                "decay" => "decay.parquet",
                _ => "draws.parquet",
            });
        }
    }
    args.extend(["-o", out]);
    let output = plot(dir, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(dir.join(out)).unwrap()
}

#[test]
fn findings_are_judged_on_paired_draws_and_pooled_differences() {
    let dir = tempfile::tempdir().unwrap();
    tables(dir.path());
    for seeds in [1, 2] {
        let md = findings(dir.path(), seeds, "out/findings.md");
        let line = |id: &str| {
            md.lines()
                .find(|l| l.starts_with(&format!("| {id} | ")))
                .unwrap_or_else(|| panic!("no {id} line in\n{md}"))
                .to_string()
        };
        // Kinds 0.1 apart with ±0.02 draws: every comparison apart.
        assert!(
            line("F4").contains("| **reproduced** |") && line("F4").contains("| 6 of 6 |"),
            "{md}"
        );
        // Scenarios 0.001 apart: the pooled difference does not separate.
        assert!(line("F1").contains("| **not shown** |"), "{md}");
        // Late equals early, and the interval is narrow against δ = 0.25 × 0.15.
        assert!(
            line("F2").contains("**reproduced (equivalent within ±δ)**"),
            "{md}"
        );
        assert!(line("F2").contains("δ = 0.038"), "{md}");
        assert!(line("F3").contains("| **not shown** |"), "{md}");
        // The fixture's composition decays fastest: the opposite of the paper.
        assert!(line("T1").contains("| **opposite** |"), "{md}");
        // Every bar is above its control.
        assert!(line("C1").contains("| **reproduced** |"), "{md}");
        // ℓ(true) − ℓ(foil) rises by half the net effectivity: 0.025 for composition, ±0.02.
        assert!(line("C2").contains("| **reproduced** |"), "{md}");
        assert!(
            md.contains("## Checks of the design (not findings of the paper)"),
            "{md}"
        );
        assert!(md.contains(&format!("{seeds} seed(s)")), "{md}");
    }

    // Draws of two different fits mixed: one group lacks its last draw.
    let mut draws: Vec<DrawRow> =
        factlab_artifacts::read_rows(&dir.path().join("draws.parquet")).unwrap();
    draws.retain(|d| !(d.run_id == "large-mid" && d.draw == DRAWS - 1));
    write_rows(&dir.path().join("torn.parquet"), &draws).unwrap();
    let torn = plot(
        dir.path(),
        &[
            "findings",
            "--effectivity",
            "effectivity.parquet",
            "--decay",
            "decay.parquet",
            "--draws",
            "torn.parquet",
            "-o",
            "x.md",
        ],
    );
    let stderr = String::from_utf8_lossy(&torn.stderr);
    assert!(!torn.status.success());
    assert!(
        stderr.contains("torn.parquet: column `draw`: group ") && stderr.contains("0..398"),
        "{stderr}"
    );

    let mismatched = plot(
        dir.path(),
        &[
            "findings",
            "--effectivity",
            "effectivity.parquet",
            "--decay",
            "decay.parquet",
            "decay.parquet",
            "--draws",
            "draws.parquet",
            "-o",
            "x.md",
        ],
    );
    assert!(!mismatched.status.success());
    assert!(String::from_utf8_lossy(&mismatched.stderr)
        .contains("1 --effectivity files, 2 --decay files and 1 --draws files"));
}
