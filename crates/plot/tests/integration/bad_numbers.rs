//! Bad numbers given to `plot` (issue 12): a bad flag fails naming it, and a NaN in a drawn
//! column is left out with a warning naming the file and the column, never drawn.

use std::process::Command;

use factlab_artifacts::{write_rows, EffectivityRow, ProbeKind};

fn plot(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_plot"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_flags_fail_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (["--step-offset", "4294967295"], "--step-offset"),
        (["--step-offset", "-1"], "--step-offset"),
    ] {
        let output = plot(
            dir.path(),
            &[
                &[
                    "fig2",
                    "--trajectory",
                    "t.parquet",
                    "--injections",
                    "i.parquet",
                ][..],
                &["--run", "mid", "-o", "fig2"],
                &args,
            ]
            .concat(),
        );
        factlab_testkit::refusal(args, &output, flag);
        assert!(!dir.path().join("fig2.png").exists());
    }
}

#[test]
fn nan_effectivities_are_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (s, scenario) in ["duplicate", "once"].iter().enumerate() {
        for kind in ProbeKind::ALL {
            // One group `fit` could not measure.
            let mean = if s == 1 && kind == ProbeKind::ALL[0] {
                f64::NAN
            } else {
                0.1 + 0.01 * s as f64
            };
            rows.push(EffectivityRow {
                run_id: "mid".into(),
                scenario: scenario.to_string(),
                kind: kind.as_str().into(),
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
        }
    }
    write_rows(&dir.path().join("effectivity.parquet"), &rows).unwrap();
    let output = plot(
        dir.path(),
        &[
            "fig3",
            "--effectivity",
            "effectivity.parquet",
            "--left",
            "mid",
            "-o",
            "fig3",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("effectivity.parquet: column `mean`: 1 of 6 rows are NaN"),
        "{stderr}"
    );
    let table = std::fs::read_to_string(dir.path().join("fig3.md")).unwrap();
    assert!(!table.contains("NaN"), "{table}");
    assert!(dir.path().join("fig3.png").exists());
}
