//! Effectivity (Eq. 2) per run × scenario × kind, beside the never-injected control.
//!
//! A control probe belongs to a paragraph with no injection. Its pseudo-effectivity for a
//! scenario is its mean gain, by the same window rule, from every injection step of that scenario,
//! counted once per injection (a step where three paragraphs were injected weighs three times),
//! so it sees the same steps, learning rates and batches as the scenario's own probes. Net
//! effectivity E − E_control is the part of the rise specific to the injected fact; its interval
//! resamples the probes of both groups independently.

use anyhow::Result;
use factlab_artifacts::EffectivityRow;
use factlab_rng::Rng;
use polars::prelude::*;

use crate::stats::{self, bootstrap_difference_interval, bootstrap_interval};
use crate::tables::{f64_lists, group_keys, per_probe, u32s, Schedules, GROUP};
use crate::{FitOptions, ProbeSeries, Runs};

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

/// Each probe's mean gains (a control probe's once per scenario), as table columns.
#[derive(Default)]
struct ProbeGains {
    run_id: Vec<String>,
    scenario: Vec<String>,
    kind: Vec<String>,
    probe_id: Vec<u32>,
    /// The mean gain in ℓ over the probe's injections.
    gain: Vec<f64>,
    /// The same in the first target token's log-probability.
    first_token_gain: Vec<f64>,
    /// Probe × injection pairs with a window evaluation.
    injections: Vec<u32>,
    /// Of those, the pairs whose maximum is the window's last evaluated step.
    at_window_end: Vec<u32>,
}

impl ProbeGains {
    /// Adds a probe's gains from each of `steps`, if any of them has a window evaluation.
    fn push(
        &mut self,
        run: &str,
        scenario: &str,
        probe: (u32, &ProbeSeries, &ProbeSeries),
        steps: &[u32],
        window: u32,
    ) {
        let (probe_id, target, first_token) = probe;
        let (gains, at_window_end) = gains_after(target, steps, window);
        if gains.is_empty() {
            return;
        }
        self.run_id.push(run.to_string());
        self.scenario.push(scenario.to_string());
        self.kind.push(target.kind.clone());
        self.probe_id.push(probe_id);
        self.gain.push(stats::mean(&gains));
        self.first_token_gain
            .push(stats::mean(&gains_after(first_token, steps, window).0));
        self.injections.push(gains.len() as u32);
        self.at_window_end.push(at_window_end);
    }

    fn frame(self) -> PolarsResult<LazyFrame> {
        Ok(df!(
            "run_id" => self.run_id,
            "scenario" => self.scenario,
            "kind" => self.kind,
            "probe_id" => self.probe_id,
            "gain" => self.gain,
            "first_token_gain" => self.first_token_gain,
            "injections" => self.injections,
            "at_window_end" => self.at_window_end,
        )?
        .lazy())
    }
}

/// The injected probes' gains at their own injections, and the control probes' gains at each
/// scenario's injection steps.
fn probe_gains(
    runs: &Runs,
    first_token_runs: &Runs,
    schedules: &Schedules,
    window: u32,
) -> (ProbeGains, ProbeGains) {
    let mut injected = ProbeGains::default();
    let mut control = ProbeGains::default();
    for (run, probes) in runs {
        for (&probe_id, target) in probes {
            // Both series come from the same rows: the same runs, probes and steps.
            let probe = (probe_id, target, &first_token_runs[run][&probe_id]);
            match schedules.by_knowledge.get(&target.knowledge_id) {
                Some(schedule) => {
                    injected.push(run, &schedule.scenario, probe, &schedule.steps, window)
                }
                None => {
                    for (scenario, steps) in &schedules.by_scenario {
                        control.push(run, scenario, probe, steps, window);
                    }
                }
            }
        }
    }
    (injected, control)
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
    schedules: &Schedules,
    options: &FitOptions,
) -> Result<Vec<EffectivityRow>> {
    let (injected, control) = probe_gains(runs, first_token_runs, schedules, options.window);
    let group: Vec<Expr> = GROUP.map(col).into();
    let control = control.frame()?.group_by(group.clone()).agg([
        per_probe("gain").alias("control_gain"),
        per_probe("first_token_gain").alias("control_first_token_gain"),
    ]);
    let table = injected
        .frame()?
        .group_by(group.clone())
        .agg([
            per_probe("gain"),
            per_probe("first_token_gain"),
            col("injections").sum(),
            col("at_window_end").sum(),
        ])
        .join(control, group.clone(), group, JoinArgs::new(JoinType::Left))
        .sort(GROUP, Default::default())
        .collect()?;

    let columns = group_keys(&table)?
        .into_iter()
        .zip(f64_lists(&table, "gain")?)
        .zip(f64_lists(&table, "first_token_gain")?)
        .zip(f64_lists(&table, "control_gain")?)
        .zip(f64_lists(&table, "control_first_token_gain")?)
        .zip(u32s(&table, "injections")?)
        .zip(u32s(&table, "at_window_end")?);
    let mut rows = Vec::new();
    for (index, row) in columns.enumerate() {
        let (
            (((((group, gains), first_token), controls), first_token_controls), injections),
            at_window_end,
        ) = row;
        let index = index as u64;
        let target = compare(&gains, &controls, options, &[index]);
        let first = compare(&first_token, &first_token_controls, options, &[index, 1]);
        let (run_id, scenario, kind) = group;
        rows.push(EffectivityRow {
            run_id,
            scenario,
            kind,
            mean: target.mean,
            ci_low: target.interval.0,
            ci_high: target.interval.1,
            probes: gains.len() as u32,
            injections,
            lam_at_window_end: f64::from(at_window_end) / f64::from(injections),
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
        });
    }
    Ok(rows)
}
