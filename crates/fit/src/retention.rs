//! Retainability R(t) after the last injection, per run × scenario × kind × t, and the decay
//! constant fitted to it, with intervals from the paragraph draws: on every draw the outlier
//! filter and the least-squares line are applied again to the resampled probes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use factlab_artifacts::{DecayRow, RetentionRow};
use factlab_inference::{rule::LEVEL, Resampled};
use polars::prelude::*;

use crate::resampling::ParagraphDraws;
use crate::stats::{self, least_squares, without_outliers, Line};
use crate::tables::{f64_lists, group_keys, per_probe, u32_lists, u32s, GROUP};
use crate::{Analysis, FitOptions, Group, Runs, Schedule};

/// One probe's R at each t ≥ 0 after its last injection, as columns.
#[derive(Default)]
struct Values {
    run_id: Vec<String>,
    scenario: Vec<String>,
    kind: Vec<String>,
    probe_id: Vec<u32>,
    knowledge_id: Vec<u32>,
    t: Vec<u32>,
    r: Vec<f64>,
}

/// One probe's R(t), t = 0 first.
fn probe_values(
    probe: &crate::ProbeSeries,
    schedule: &Schedule,
    evaluated: &BTreeSet<u32>,
    window: u32,
    analysis: Analysis,
) -> Option<Vec<(u32, f64)>> {
    let last = *schedule.steps.last().expect("schedules are never empty");
    let pre_step = match analysis {
        Analysis::Factlab => schedule.steps[0],
        Analysis::Authors => *probe.values.keys().next()?,
    };
    let pre = *probe.values.get(&pre_step)?;
    let (lam, at_lam) = probe.acquisition_maximum(last, window)?;
    let gain = at_lam - pre;
    if gain.abs() <= 1e-12 {
        return None;
    }
    let r = |v: f64| (v - pre) / gain;
    let later: Vec<(u32, f64)> = match analysis {
        // t on the evaluation grid after the last injection, R read between evaluations.
        Analysis::Factlab => evaluated
            .range(last + 1..)
            .filter_map(|s| {
                let t = s - last;
                probe.at(lam + t).map(|v| (t, r(v)))
            })
            .collect(),
        // t where LAM + t itself was evaluated.
        Analysis::Authors => probe
            .values
            .range(lam + 1..)
            .map(|(s, v)| (s - lam, r(*v)))
            .collect(),
    };
    Some([(0, 1.0)].into_iter().chain(later).collect())
}

/// A probe's id, its paragraph and its R(t).
type ProbeCurve = (u32, u32, Vec<(u32, f64)>);

/// Every probe's R(t), each group cut to one t range: up to the largest t that every probe of the
/// group reaches, so that every t averages the same probes.
fn values(
    runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    window: u32,
    analysis: Analysis,
) -> Values {
    let mut per_group: BTreeMap<Group, Vec<ProbeCurve>> = BTreeMap::new();
    for (run, probes) in runs {
        let evaluated: BTreeSet<u32> = probes
            .values()
            .flat_map(|p| p.values.keys().copied())
            .collect();
        for (&probe_id, probe) in probes {
            let Some(schedule) = schedules.get(&probe.knowledge_id) else {
                continue;
            };
            if let Some(series) = probe_values(probe, schedule, &evaluated, window, analysis) {
                let group = (run.clone(), schedule.scenario.clone(), probe.kind.clone());
                per_group
                    .entry(group)
                    .or_default()
                    .push((probe_id, probe.knowledge_id, series));
            }
        }
    }
    let mut out = Values::default();
    for ((run, scenario, kind), probes) in per_group {
        let reach = probes
            .iter()
            .map(|(_, _, series)| series.last().map_or(0, |&(t, _)| t))
            .min()
            .unwrap_or(0);
        for (probe_id, knowledge_id, series) in probes {
            for (t, r) in series.into_iter().take_while(|&(t, _)| t <= reach) {
                out.run_id.push(run.clone());
                out.scenario.push(scenario.clone());
                out.kind.push(kind.clone());
                out.probe_id.push(probe_id);
                out.knowledge_id.push(knowledge_id);
                out.t.push(t);
                out.r.push(r);
            }
        }
    }
    out
}

/// One t of one group: each probe's paragraph and R.
struct AtT {
    t: u32,
    values: Vec<(u32, f64)>,
}

/// The line of filtered mean R against log10 t (t ≥ 1) over every probe.
fn fit_line(points: &[AtT], iqr_factor: f64) -> Option<Line> {
    let (x, y): (Vec<f64>, Vec<f64>) = points
        .iter()
        .filter(|at| at.t >= 1)
        .filter_map(|at| {
            let values: Vec<f64> = at.values.iter().map(|v| v.1).collect();
            let kept = without_outliers(&values, iqr_factor);
            (!kept.is_empty()).then(|| (f64::from(at.t).log10(), stats::mean(&kept)))
        })
        .unzip();
    least_squares(&x, &y)
}

/// One t's R values sorted, each with its paragraph's slot among the draws.
struct Sorted {
    log_t: f64,
    values: Vec<(usize, f64)>,
}

/// The value at position `index` of the multiset where each value appears `weight` times.
fn at_position(sorted: &[(u32, f64)], index: u32) -> f64 {
    let mut seen = 0;
    for &(w, v) in sorted {
        seen += w;
        if index < seen {
            return v;
        }
    }
    sorted.last().map_or(f64::NAN, |s| s.1)
}

/// The filtered mean of a weighted multiset (sorted by value): the same IQR rule as
/// [`without_outliers`] applied to the values repeated by their weights, without building them.
fn weighted_filtered_mean(sorted: &[(u32, f64)], iqr_factor: f64) -> Option<f64> {
    let total: u32 = sorted.iter().map(|s| s.0).sum();
    if total == 0 {
        return None;
    }
    let range = if total < 4 {
        f64::NEG_INFINITY..=f64::INFINITY
    } else {
        let quantile = |q: f64| {
            let position = q * f64::from(total - 1);
            let (lo, hi) = (position.floor(), position.ceil());
            let (a, b) = (
                at_position(sorted, lo as u32),
                at_position(sorted, hi as u32),
            );
            a + (b - a) * (position - lo)
        };
        let (q1, q3) = (quantile(0.25), quantile(0.75));
        q1 - iqr_factor * (q3 - q1)..=q3 + iqr_factor * (q3 - q1)
    };
    let (mut sum, mut weight) = (0.0, 0.0);
    for &(w, v) in sorted.iter().filter(|s| range.contains(&s.1)) {
        sum += f64::from(w) * v;
        weight += f64::from(w);
    }
    (weight > 0.0).then(|| sum / weight)
}

/// The line refitted on draw `draw`: every probe weighs as often as the draw took its paragraph.
fn refit_line(
    points: &[Sorted],
    iqr_factor: f64,
    draws: &ParagraphDraws,
    draw: usize,
) -> Option<Line> {
    let mut weighted = Vec::new();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for at in points {
        weighted.clear();
        weighted.extend(
            at.values
                .iter()
                .map(|&(slot, v)| (draws.count_at(slot, draw), v)),
        );
        if let Some(mean) = weighted_filtered_mean(&weighted, iqr_factor) {
            x.push(at.log_t);
            y.push(mean);
        }
    }
    least_squares(&x, &y)
}

/// A group's decay constant and x-intercept with their draws (a draw whose line cannot be fitted
/// keeps the point).
pub(crate) struct DecayEstimates {
    pub group: Group,
    pub a: Resampled,
    pub x_intercept_log10_steps: Resampled,
}

/// The retention table (outliers filtered per group × t), one decay fit per group, and each fit's
/// draws.
pub(crate) fn rows(
    runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    options: &FitOptions,
    draws: &ParagraphDraws,
) -> Result<(Vec<RetentionRow>, Vec<DecayRow>, Vec<DecayEstimates>)> {
    let v = values(runs, schedules, options.window, options.analysis);
    let keys = [GROUP.as_slice(), &["t"]].concat();
    let table = df!(
        "run_id" => v.run_id,
        "scenario" => v.scenario,
        "kind" => v.kind,
        "probe_id" => v.probe_id,
        "knowledge_id" => v.knowledge_id,
        "t" => v.t,
        "r" => v.r,
    )?
    .lazy()
    .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
    .agg([per_probe("r"), per_probe("knowledge_id")])
    .sort(keys, Default::default())
    .collect()?;

    let mut by_group: Vec<(Group, Vec<AtT>)> = Vec::new();
    for ((group, t), (values, ids)) in group_keys(&table)?.into_iter().zip(u32s(&table, "t")?).zip(
        f64_lists(&table, "r")?
            .into_iter()
            .zip(u32_lists(&table, "knowledge_id")?),
    ) {
        let at = AtT {
            t,
            values: ids.into_iter().zip(values).collect(),
        };
        match by_group.last_mut() {
            Some((last, points)) if *last == group => points.push(at),
            _ => by_group.push((group, vec![at])),
        }
    }

    let iqr = options.iqr_factor;
    let mut retention = Vec::new();
    let mut decay = Vec::new();
    let mut estimates = Vec::new();
    for (group, points) in &by_group {
        for at in points {
            let values: Vec<f64> = at.values.iter().map(|v| v.1).collect();
            let kept = without_outliers(&values, iqr);
            if !kept.is_empty() {
                let (run_id, scenario, kind) = group.clone();
                retention.push(RetentionRow {
                    run_id,
                    scenario,
                    kind,
                    t: at.t,
                    mean: stats::mean(&kept),
                    probes: kept.len() as u32,
                });
            }
        }
        let Some(line) = fit_line(points, iqr) else {
            continue;
        };
        let sorted: Vec<Sorted> = points
            .iter()
            .filter(|at| at.t >= 1)
            .map(|at| {
                let mut values: Vec<(usize, f64)> = at
                    .values
                    .iter()
                    .map(|&(p, v)| (draws.slot(p).expect("every probed paragraph has a slot"), v))
                    .collect();
                values.sort_by(|a, b| a.1.total_cmp(&b.1));
                Sorted {
                    log_t: f64::from(at.t).log10(),
                    values,
                }
            })
            .collect();
        let x_intercept = |l: &Line| -l.intercept / l.slope;
        let (mut a_draws, mut x_draws) = (Vec::new(), Vec::new());
        for draw in 0..draws.draws() {
            let refit = refit_line(&sorted, iqr, draws, draw).unwrap_or(line);
            a_draws.push(-refit.slope);
            x_draws.push(x_intercept(&refit));
        }
        let a = draws.stretch(Resampled::new(-line.slope, a_draws));
        let x = draws.stretch(Resampled::new(x_intercept(&line), x_draws));
        let (a_low, a_high) = a.interval(LEVEL);
        let (x_low, x_high) = x.interval(LEVEL);
        let (run_id, scenario, kind) = group.clone();
        let tokens = options.tokens_per_step.log10();
        decay.push(DecayRow {
            run_id,
            scenario,
            kind,
            a: a.point,
            a_stderr: line.slope_stderr,
            a_ci_low: a_low,
            a_ci_high: a_high,
            intercept: line.intercept,
            r_squared: line.r_squared,
            x_intercept_log10_steps: x.point,
            x_intercept_log10_steps_ci_low: x_low,
            x_intercept_log10_steps_ci_high: x_high,
            x_intercept_log10_tokens: x.point + tokens,
            tokens_per_step: options.tokens_per_step,
            points: points.iter().filter(|at| at.t >= 1).count() as u32,
        });
        estimates.push(DecayEstimates {
            group: group.clone(),
            a,
            x_intercept_log10_steps: x,
        });
    }
    Ok((retention, decay, estimates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_filter_is_the_filter_of_the_repeated_values() {
        let values = [0.1, 0.5, 0.45, 0.52, 0.48, 3.0, 0.47, -2.0];
        let weights = [1u32, 2, 0, 3, 1, 1, 2, 1];
        let repeated: Vec<f64> = values
            .iter()
            .zip(weights)
            .flat_map(|(&v, w)| std::iter::repeat_n(v, w as usize))
            .collect();
        let mut sorted: Vec<(u32, f64)> = weights.into_iter().zip(values).collect();
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
        for factor in [0.5, 1.5, 20.0] {
            let expected = stats::mean(&without_outliers(&repeated, factor));
            let got = weighted_filtered_mean(&sorted, factor).unwrap();
            assert!(
                (expected - got).abs() < 1e-12,
                "factor {factor}: {expected} vs {got}"
            );
        }
        assert_eq!(weighted_filtered_mean(&[(0, 1.0)], 1.5), None);
    }
}
