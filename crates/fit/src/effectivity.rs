//! Effectivity (Eq. 2) per run × scenario × kind, beside the never-injected control.
//!
//! A control probe belongs to a paragraph with no injection. Its pseudo-effectivity for a
//! scenario is its mean gain, by the same window rule, from every injection step of that scenario,
//! counted once per injection (a step where three paragraphs were injected weighs three times),
//! so it sees the same steps, learning rates and batches as the scenario's own probes. Net
//! effectivity E − E_control is the part of the rise specific to the injected fact; its interval
//! resamples the probes of both groups independently.

use std::collections::BTreeMap;

use factlab_artifacts::EffectivityRow;
use factlab_rng::Rng;

use crate::stats::{self, bootstrap_difference_interval, bootstrap_interval};
use crate::{FitOptions, Group, ProbeSeries, Runs, Schedule};

/// Effectivity of one group before averaging.
#[derive(Default)]
struct GroupGains {
    /// Each probe's mean gain over its injections.
    probe_means: Vec<f64>,
    /// Probe × injection pairs with a window evaluation.
    injections: u32,
    /// Of those, the pairs whose maximum is the window's last evaluated step.
    at_window_end: u32,
}

/// A probe's gains from each of `steps` to its local acquisition maximum, and how many of those
/// maxima fall on the window's last evaluated step.
fn gains_after(probe: &ProbeSeries, steps: &[u32], window: u32) -> (Vec<f64>, u32) {
    let mut gains = Vec::new();
    let mut at_window_end = 0;
    for &t in steps {
        let Some(before) = probe.values.get(&t) else {
            continue;
        };
        let Some((lam, best)) = probe.acquisition_maximum(t, window) else {
            continue;
        };
        gains.push(best - before);
        if Some(lam) == probe.last_evaluated_in_window(t, window) {
            at_window_end += 1;
        }
    }
    (gains, at_window_end)
}

/// The injected probes' gains (Eq. 2 before the averages over probes), per group.
fn injected_gains(
    runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    window: u32,
) -> BTreeMap<Group, GroupGains> {
    let mut groups: BTreeMap<Group, GroupGains> = BTreeMap::new();
    for (run, probes) in runs {
        for probe in probes.values() {
            let Some(schedule) = schedules.get(&probe.knowledge_id) else {
                continue;
            };
            let (gains, at_window_end) = gains_after(probe, &schedule.steps, window);
            if !gains.is_empty() {
                let group = (run.clone(), schedule.scenario.clone(), probe.kind.clone());
                let entry = groups.entry(group).or_default();
                entry.probe_means.push(stats::mean(&gains));
                entry.injections += gains.len() as u32;
                entry.at_window_end += at_window_end;
            }
        }
    }
    groups
}

/// Every injection step of each scenario, once per injected paragraph.
fn scenario_steps(schedules: &BTreeMap<u32, Schedule>) -> BTreeMap<&str, Vec<u32>> {
    let mut steps: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for schedule in schedules.values() {
        steps
            .entry(schedule.scenario.as_str())
            .or_default()
            .extend(&schedule.steps);
    }
    for list in steps.values_mut() {
        list.sort_unstable();
    }
    steps
}

/// The control probes' mean gains at each scenario's injection steps, per group.
fn control_gains(
    runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    window: u32,
) -> BTreeMap<Group, Vec<f64>> {
    let steps_of = scenario_steps(schedules);
    let mut groups: BTreeMap<Group, Vec<f64>> = BTreeMap::new();
    for (run, probes) in runs {
        let control = probes
            .values()
            .filter(|p| !schedules.contains_key(&p.knowledge_id));
        for probe in control {
            for (scenario, steps) in &steps_of {
                let (gains, _) = gains_after(probe, steps, window);
                if !gains.is_empty() {
                    let group = (run.clone(), scenario.to_string(), probe.kind.clone());
                    groups.entry(group).or_default().push(stats::mean(&gains));
                }
            }
        }
    }
    groups
}

/// One metric (ℓ or the first token's log-probability) of one group: injected, control, net.
struct Compared {
    mean: f64,
    interval: (f64, f64),
    control_mean: f64,
    control_interval: (f64, f64),
    net_mean: f64,
    net_interval: (f64, f64),
}

/// `stream` keeps each interval on its own random stream, so adding a column leaves the others'
/// intervals as they were.
fn compare(injected: &[f64], control: &[f64], options: &FitOptions, stream: &[u64]) -> Compared {
    let rng = |part: u64| Rng::derive(options.seed, &[stream, &[part]].concat());
    let resamples = options.bootstrap;
    let interval = bootstrap_interval(injected, resamples, &mut rng(0));
    let nan = (f64::NAN, f64::NAN);
    if control.is_empty() {
        return Compared {
            mean: stats::mean(injected),
            interval,
            control_mean: f64::NAN,
            control_interval: nan,
            net_mean: f64::NAN,
            net_interval: nan,
        };
    }
    let control_mean = stats::mean(control);
    Compared {
        mean: stats::mean(injected),
        interval,
        control_mean,
        control_interval: bootstrap_interval(control, resamples, &mut rng(1)),
        net_mean: stats::mean(injected) - control_mean,
        net_interval: bootstrap_difference_interval(injected, control, resamples, &mut rng(2)),
    }
}

/// The effectivity table: one row per run × scenario × kind with injected probes.
pub(crate) fn rows(
    runs: &Runs,
    first_token_runs: &Runs,
    schedules: &BTreeMap<u32, Schedule>,
    options: &FitOptions,
) -> Vec<EffectivityRow> {
    let window = options.window;
    let injected = injected_gains(runs, schedules, window);
    let first_token = injected_gains(first_token_runs, schedules, window);
    let control = control_gains(runs, schedules, window);
    let first_token_control = control_gains(first_token_runs, schedules, window);
    let none = Vec::new();
    injected
        .into_iter()
        .enumerate()
        .map(|(index, (group, gains))| {
            let index = index as u64;
            let controls = control.get(&group).unwrap_or(&none);
            let target = compare(&gains.probe_means, controls, options, &[index]);
            let first = compare(
                &first_token[&group].probe_means,
                first_token_control.get(&group).unwrap_or(&none),
                options,
                &[index, 1],
            );
            let (run_id, scenario, kind) = group;
            EffectivityRow {
                run_id,
                scenario,
                kind,
                mean: target.mean,
                ci_low: target.interval.0,
                ci_high: target.interval.1,
                probes: gains.probe_means.len() as u32,
                injections: gains.injections,
                lam_at_window_end: f64::from(gains.at_window_end) / f64::from(gains.injections),
                first_token_mean: first.mean,
                first_token_ci_low: first.interval.0,
                first_token_ci_high: first.interval.1,
                control_mean: target.control_mean,
                control_ci_low: target.control_interval.0,
                control_ci_high: target.control_interval.1,
                control_probes: controls.len() as u32,
                net_mean: target.net_mean,
                net_ci_low: target.net_interval.0,
                net_ci_high: target.net_interval.1,
                first_token_net_mean: first.net_mean,
                first_token_net_ci_low: first.net_interval.0,
                first_token_net_ci_high: first.net_interval.1,
            }
        })
        .collect()
}
