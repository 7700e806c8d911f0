//! Effectivity (Eq. 2) per run × scenario × kind, beside the never-injected control.
//!
//! A control probe belongs to a paragraph with no injection. Its pseudo-effectivity for a
//! scenario is its mean gain, by the same window rule, from every injection step of that scenario,
//! counted once per injection (a step where three paragraphs were injected weighs three times),
//! so it sees the same steps, learning rates and batches as the scenario's own probes. Net
//! effectivity E − E_control is the part of the rise specific to the injected fact. Intervals
//! resample paragraphs, the injected ones and the control's alike ([`ParagraphDraws`]).

use std::collections::BTreeMap;

use anyhow::Result;
use factlab_artifacts::EffectivityRow;
use factlab_inference::{rule::LEVEL, Resampled};
use polars::prelude::*;

use crate::resampling::ParagraphDraws;
use crate::specificity::Specificity;
use crate::stats;
use crate::tables::{f64_lists, group_keys, per_probe, u32_lists, u32s, Schedules, GROUP};
use crate::{Analysis, FitOptions, Group, ProbeSeries, Runs};

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
    knowledge_id: Vec<u32>,
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
        self.knowledge_id.push(target.knowledge_id);
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
            "knowledge_id" => self.knowledge_id,
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
pub(crate) struct Compared {
    probes: u32,
    control_probes: u32,
    pub effectivity: Resampled,
    pub control: Option<Resampled>,
    pub net: Option<Resampled>,
}

fn compare(injected: &[(u32, f64)], control: &[(u32, f64)], draws: &ParagraphDraws) -> Compared {
    let effectivity = draws.mean(injected);
    let (probes, control_probes) = (injected.len() as u32, control.len() as u32);
    if control.is_empty() {
        return Compared {
            probes,
            control_probes,
            effectivity,
            control: None,
            net: None,
        };
    }
    let control = draws.mean(control);
    Compared {
        probes,
        control_probes,
        net: Some(effectivity.minus(&control)),
        effectivity,
        control: Some(control),
    }
}

/// An estimate's point and 95 % interval; NaN for one that does not exist (no control).
fn with_interval(estimate: Option<&Resampled>) -> (f64, (f64, f64)) {
    match estimate {
        Some(e) => (e.point, e.interval(LEVEL)),
        None => (f64::NAN, (f64::NAN, f64::NAN)),
    }
}

/// One group's estimates with their paragraph draws, for `draws.parquet`.
pub(crate) struct GroupEstimates<'a> {
    pub group: Group,
    pub target: Compared,
    pub first_token: Compared,
    pub specificity: Option<&'a Specificity>,
}

/// The effectivity table (one row per run × scenario × kind with injected probes) and each row's
/// estimates with their draws; `specificity` where foils were scored.
pub(crate) fn rows<'a>(
    runs: &Runs,
    first_token_runs: &Runs,
    schedules: &Schedules,
    options: &FitOptions,
    draws: &ParagraphDraws,
    specificity: &'a BTreeMap<Group, Specificity>,
) -> Result<(Vec<EffectivityRow>, Vec<GroupEstimates<'a>>)> {
    let (injected, control) = probe_gains(runs, first_token_runs, schedules, options.window);
    let group: Vec<Expr> = GROUP.map(col).into();
    let control = control.frame()?.group_by(group.clone()).agg([
        per_probe("knowledge_id").alias("control_knowledge_id"),
        per_probe("gain").alias("control_gain"),
        per_probe("first_token_gain").alias("control_first_token_gain"),
    ]);
    let table = injected
        .frame()?
        .group_by(group.clone())
        .agg([
            per_probe("knowledge_id"),
            per_probe("gain"),
            per_probe("first_token_gain"),
            col("injections").sum(),
            col("at_window_end").sum(),
        ])
        .join(control, group.clone(), group, JoinArgs::new(JoinType::Left))
        .sort(GROUP, Default::default())
        .collect()?;

    let paired = |ids: &[u32], values: Vec<f64>| -> Vec<(u32, f64)> {
        ids.iter().copied().zip(values).collect()
    };
    let columns = group_keys(&table)?
        .into_iter()
        .zip(u32_lists(&table, "knowledge_id")?)
        .zip(f64_lists(&table, "gain")?)
        .zip(f64_lists(&table, "first_token_gain")?)
        .zip(u32_lists(&table, "control_knowledge_id")?)
        .zip(f64_lists(&table, "control_gain")?)
        .zip(f64_lists(&table, "control_first_token_gain")?)
        .zip(u32s(&table, "injections")?)
        .zip(u32s(&table, "at_window_end")?);
    let mut rows = Vec::new();
    let mut estimates = Vec::new();
    for row in columns {
        let (
            (
                ((((((group, ids), gains), first_token), control_ids), controls), first_controls),
                injections,
            ),
            at_window_end,
        ) = row;
        let filter = |pairs: Vec<(u32, f64)>| match options.analysis {
            Analysis::Factlab => pairs,
            Analysis::Authors => stats::inliers(pairs, options.iqr_factor),
        };
        let target = compare(
            &filter(paired(&ids, gains)),
            &filter(paired(&control_ids, controls)),
            draws,
        );
        let first = compare(
            &filter(paired(&ids, first_token)),
            &filter(paired(&control_ids, first_controls)),
            draws,
        );
        let (mean, interval) = with_interval(Some(&target.effectivity));
        let (first_mean, first_interval) = with_interval(Some(&first.effectivity));
        let (control_mean, control_interval) = with_interval(target.control.as_ref());
        let (net_mean, net_interval) = with_interval(target.net.as_ref());
        let (first_net_mean, first_net_interval) = with_interval(first.net.as_ref());
        let foil = specificity.get(&group);
        let optional = |estimate: Option<&Resampled>| match estimate {
            Some(e) => {
                let (low, high) = e.interval(LEVEL);
                (Some(e.point), Some(low), Some(high))
            }
            None => (None, None, None),
        };
        let (specificity_mean, specificity_ci_low, specificity_ci_high) =
            optional(foil.map(|f| &f.gain));
        let (specificity_net_mean, specificity_net_ci_low, specificity_net_ci_high) =
            optional(foil.and_then(|f| f.net.as_ref()));
        let (run_id, scenario, kind) = group.clone();
        rows.push(EffectivityRow {
            run_id,
            scenario,
            kind,
            mean,
            ci_low: interval.0,
            ci_high: interval.1,
            probes: target.probes,
            injections,
            lam_at_window_end: f64::from(at_window_end) / f64::from(injections),
            first_token_mean: first_mean,
            first_token_ci_low: first_interval.0,
            first_token_ci_high: first_interval.1,
            control_mean,
            control_ci_low: control_interval.0,
            control_ci_high: control_interval.1,
            control_probes: target.control_probes,
            net_mean,
            net_ci_low: net_interval.0,
            net_ci_high: net_interval.1,
            first_token_net_mean: first_net_mean,
            first_token_net_ci_low: first_net_interval.0,
            first_token_net_ci_high: first_net_interval.1,
            specificity_mean,
            specificity_ci_low,
            specificity_ci_high,
            specificity_net_mean,
            specificity_net_ci_low,
            specificity_net_ci_high,
        });
        estimates.push(GroupEstimates {
            group,
            target,
            first_token: first,
            specificity: foil,
        });
    }
    Ok((rows, estimates))
}
