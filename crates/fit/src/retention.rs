//! Retainability R(t) after the last injection, per run × scenario × kind × t, and the decay
//! constant fitted to it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use factlab_artifacts::{DecayRow, RetentionRow};
use polars::prelude::*;

use crate::stats::{self, least_squares, without_outliers};
use crate::tables::{f64_lists, group_keys, per_probe, u32s, GROUP};
use crate::{FitOptions, Runs, Schedule};

/// One probe's R at each t ≥ 0 after its last injection, as columns.
#[derive(Default)]
struct Values {
    run_id: Vec<String>,
    scenario: Vec<String>,
    kind: Vec<String>,
    probe_id: Vec<u32>,
    t: Vec<u32>,
    r: Vec<f64>,
}

/// Every probe's R(t), from the per-probe window scans.
fn values(runs: &Runs, schedules: &BTreeMap<u32, Schedule>, window: u32) -> Values {
    let mut out = Values::default();
    for (run, probes) in runs {
        let evaluated: BTreeSet<u32> = probes
            .values()
            .flat_map(|p| p.values.keys().copied())
            .collect();
        for (&probe_id, probe) in probes {
            let Some(schedule) = schedules.get(&probe.knowledge_id) else {
                continue;
            };
            let first = schedule.steps[0];
            let last = *schedule.steps.last().expect("schedules are never empty");
            let (Some(&pre), Some((lam, at_lam))) = (
                probe.values.get(&first),
                probe.acquisition_maximum(last, window),
            ) else {
                continue;
            };
            let gain = at_lam - pre;
            if gain.abs() <= 1e-12 {
                continue;
            }
            let later = evaluated.range(last + 1..).map(|s| s - last);
            let at_t = later.filter_map(|t| probe.at(lam + t).map(|v| (t, (v - pre) / gain)));
            for (t, r) in [(0, 1.0)].into_iter().chain(at_t) {
                out.run_id.push(run.clone());
                out.scenario.push(schedule.scenario.clone());
                out.kind.push(probe.kind.clone());
                out.probe_id.push(probe_id);
                out.t.push(t);
                out.r.push(r);
            }
        }
    }
    out
}

/// The retention table (outliers filtered per group × t) and one decay fit per group.
pub(crate) fn rows(
    runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    options: &FitOptions,
) -> Result<(Vec<RetentionRow>, Vec<DecayRow>)> {
    let v = values(runs, schedules, options.window);
    let keys = [GROUP.as_slice(), &["t"]].concat();
    let table = df!(
        "run_id" => v.run_id,
        "scenario" => v.scenario,
        "kind" => v.kind,
        "probe_id" => v.probe_id,
        "t" => v.t,
        "r" => v.r,
    )?
    .lazy()
    .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
    .agg([per_probe("r")])
    .sort(keys, Default::default())
    .collect()?;

    let mut by_t = Vec::new();
    for ((group, t), values) in group_keys(&table)?
        .into_iter()
        .zip(u32s(&table, "t")?)
        .zip(f64_lists(&table, "r")?)
    {
        let kept = without_outliers(&values, options.iqr_factor);
        if !kept.is_empty() {
            by_t.push((group, t, stats::mean(&kept), kept.len() as u32));
        }
    }

    let mut decay = Vec::new();
    for fitted in by_t.chunk_by(|a, b| a.0 == b.0) {
        let (x, y): (Vec<f64>, Vec<f64>) = fitted
            .iter()
            .filter(|&&(_, t, _, _)| t >= 1)
            .map(|&(_, t, mean, _)| ((t as f64).log10(), mean))
            .unzip();
        let Some(line) = least_squares(&x, &y) else {
            continue;
        };
        let (run_id, scenario, kind) = fitted[0].0.clone();
        let x_intercept = -line.intercept / line.slope;
        decay.push(DecayRow {
            run_id,
            scenario,
            kind,
            a: -line.slope,
            a_stderr: line.slope_stderr,
            intercept: line.intercept,
            r_squared: line.r_squared,
            x_intercept_log10_steps: x_intercept,
            x_intercept_log10_tokens: x_intercept + options.tokens_per_step.log10(),
            tokens_per_step: options.tokens_per_step,
            points: x.len() as u32,
        });
    }
    let retention = by_t
        .into_iter()
        .map(|((run_id, scenario, kind), t, mean, probes)| RetentionRow {
            run_id,
            scenario,
            kind,
            t,
            mean,
            probes,
        })
        .collect();
    Ok((retention, decay))
}
