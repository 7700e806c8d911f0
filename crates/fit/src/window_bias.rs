//! How much of the control's pseudo-effectivity the window rule makes out of noise alone.
//!
//! Effectivity takes the largest of the evaluations in the t_w steps after an injection and
//! subtracts the value at the injection step. Where ℓ only fluctuates, with no trend at all, the
//! largest of several values still lies above a single one on average, so a probe that learns
//! nothing shows a positive gain. The never-injected control shows both that bias and the rise of
//! every probe while training goes on; this module measures the first on its own.
//!
//! The no-trend null of a control probe is its own series with its trend taken out and its
//! residuals permuted across its own evaluated steps, many times, each permutation scored by the
//! same window rule from the same injection steps:
//! - within the probe's own series, because the permutation then keeps everything of the probe
//!   but the order in time: its fluctuations' size and shape, and the evaluation schedule (how
//!   many evaluations a window holds); only the order carries a trend, so only the trend is lost.
//!   Permuting across probes would count the differences between probes' levels as noise;
//! - with the trend taken out first, because permuting raw values would turn the trend itself
//!   into spread: a probe climbing steadily by one nat over the continuation would look like one
//!   nat of noise. The trend at an evaluation is the least-squares line through the evaluations
//!   within t_w steps of it, the window's own scale: one line over the whole continuation would
//!   leave the curve's bend in the residuals (ℓ climbs fast early in a continuation, then
//!   flattens) and count it as noise. Each residual is divided by √(1 − its leverage), so pure
//!   noise keeps its spread although the line was fitted to it.
//!
//! What the null still overstates: noise correlated from step to step (the weights move
//! smoothly) lifts a window's maximum less than exchangeable noise of the same spread does, and a
//! bend within t_w steps stays in the residuals. So the share of the control's rise that the null
//! explains is an upper bound on the share due to the maximum over noise.

use std::collections::BTreeMap;

use factlab_rng::Rng;

use crate::stats::{self, least_squares, quantile};
use crate::tables::Schedules;
use crate::{ProbeSeries, Runs};

/// Permutations per probe: enough that the 2.5 % and 97.5 % quantiles of the group means over
/// permutations rest on 25 permutations each.
pub(crate) const PERMUTATIONS: usize = 1000;

/// The key of this module's random streams ("SHUF"), apart from every other stream of `fit`.
const STREAM: u64 = 0x5348_5546;

/// The control's pseudo-effectivity beside its no-trend null, for one run × probe kind.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowBias {
    pub run_id: String,
    pub kind: String,
    /// Control probes with at least one injection step evaluated and a window evaluation.
    pub probes: u32,
    /// Mean gain by the window rule over every scenario's injection steps (each counted once per
    /// injected paragraph, as effectivity counts them), nats per token.
    pub pseudo_effectivity: f64,
    /// The same on the trend-free permuted series: its mean over permutations,
    pub shuffled_mean: f64,
    /// and the 2.5 % and 97.5 % quantiles of the group's mean over permutations.
    pub shuffled_range: (f64, f64),
    /// `shuffled_mean / pseudo_effectivity`; NaN where the pseudo-effectivity is not positive.
    pub share: f64,
}

/// One injection step of a probe's series, as positions in its evaluated steps.
struct Window {
    /// Position of the injection step.
    at: usize,
    /// Evaluations in the window: positions `at + 1 ..= at + evaluations`.
    evaluations: usize,
    /// Injected paragraphs at this step: the weight of its gain.
    weight: f64,
}

/// A control probe's real mean gain and its mean gain under each permutation.
struct ProbeNull {
    real: f64,
    shuffled: Vec<f64>,
}

/// The gain of the window rule at `window`, on `values` in the order of the evaluated steps.
fn gain(values: &[f64], window: &Window) -> f64 {
    let after = &values[window.at + 1..=window.at + window.evaluations];
    after.iter().copied().fold(f64::NEG_INFINITY, f64::max) - values[window.at]
}

fn weighted_mean(windows: &[Window], gain_of: impl Fn(&Window) -> f64) -> f64 {
    let total: f64 = windows.iter().map(|w| w.weight).sum();
    windows.iter().map(|w| w.weight * gain_of(w)).sum::<f64>() / total
}

/// `values` at `steps` less their local trend: the least-squares line through the evaluations
/// within `window` steps of each (through all of them where fewer than three are that close),
/// each residual divided by √(1 − leverage) so that noise keeps its variance. A series of fewer
/// than three evaluations has no line to take out and is returned as it is: a shift leaves every
/// gain as it was.
fn detrended(steps: &[u32], values: &[f64], window: u32) -> Vec<f64> {
    let x: Vec<f64> = steps.iter().map(|&s| f64::from(s)).collect();
    let residual = |range: std::ops::Range<usize>, j: usize| {
        let (x, y) = (&x[range.clone()], &values[range]);
        let line = least_squares(x, y)?;
        let mean = stats::mean(x);
        let spread: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let at = f64::from(steps[j]);
        let leverage = 1.0 / x.len() as f64 + (at - mean).powi(2) / spread;
        Some((values[j] - line.intercept - line.slope * at) / (1.0 - leverage).sqrt())
    };
    (0..steps.len())
        .map(|j| {
            let first = steps.partition_point(|&s| s < steps[j].saturating_sub(window));
            let end = steps.partition_point(|&s| s <= steps[j].saturating_add(window));
            residual(first..end, j)
                .or_else(|| residual(0..steps.len(), j))
                .unwrap_or(values[j])
        })
        .collect()
}

/// `probe`'s null, or `None` if none of `injection_steps` (step → paragraphs) is evaluated with
/// an evaluation in the window after it.
fn probe_null(
    probe: &ProbeSeries,
    injection_steps: &BTreeMap<u32, u32>,
    window: u32,
    rng: &mut Rng,
) -> Option<ProbeNull> {
    let steps: Vec<u32> = probe.values.keys().copied().collect();
    let windows: Vec<Window> = injection_steps
        .iter()
        .filter_map(|(&t, &paragraphs)| {
            let at = steps.binary_search(&t).ok()?;
            // The window is every evaluation after t within t_w steps: the ones right after `at`.
            let evaluations = probe.window_after(t, window).count();
            (evaluations > 0).then_some(Window {
                at,
                evaluations,
                weight: f64::from(paragraphs),
            })
        })
        .collect();
    if windows.is_empty() {
        return None;
    }
    // The same rule as effectivity's, on the probe's own series.
    let real = weighted_mean(&windows, |w| {
        let (_, best) = probe
            .acquisition_maximum(steps[w.at], window)
            .expect("the window holds an evaluation");
        best - probe.values[&steps[w.at]]
    });

    let mut residuals = detrended(
        &steps,
        &probe.values.values().copied().collect::<Vec<_>>(),
        window,
    );
    let shuffled = (0..PERMUTATIONS)
        .map(|_| {
            rng.shuffle(&mut residuals);
            weighted_mean(&windows, |w| gain(&residuals, w))
        })
        .collect();
    Some(ProbeNull { real, shuffled })
}

/// The control's pseudo-effectivity and its no-trend null per run × kind, over the injection
/// steps of every scenario; empty when no paragraph is a control.
pub(crate) fn rows(runs: &Runs, schedules: &Schedules, window: u32, seed: u64) -> Vec<WindowBias> {
    let mut injection_steps: BTreeMap<u32, u32> = BTreeMap::new();
    for &step in schedules.by_scenario.values().flatten() {
        *injection_steps.entry(step).or_default() += 1;
    }
    let mut groups: BTreeMap<(&str, &str), Vec<ProbeNull>> = BTreeMap::new();
    for (run_index, (run, probes)) in runs.iter().enumerate() {
        for (&probe_id, probe) in probes {
            if schedules.by_knowledge.contains_key(&probe.knowledge_id) {
                continue;
            }
            // One stream per probe: a probe's null does not depend on which others were scored.
            let mut rng = Rng::derive(seed, &[STREAM, run_index as u64, u64::from(probe_id)]);
            if let Some(null) = probe_null(probe, &injection_steps, window, &mut rng) {
                groups
                    .entry((run.as_str(), probe.kind.as_str()))
                    .or_default()
                    .push(null);
            }
        }
    }
    groups
        .into_iter()
        .map(|((run_id, kind), nulls)| {
            let real: Vec<f64> = nulls.iter().map(|n| n.real).collect();
            let mut means: Vec<f64> = (0..PERMUTATIONS)
                .map(|p| nulls.iter().map(|n| n.shuffled[p]).sum::<f64>() / nulls.len() as f64)
                .collect();
            let shuffled_mean = stats::mean(&means);
            means.sort_by(f64::total_cmp);
            let pseudo_effectivity = stats::mean(&real);
            WindowBias {
                run_id: run_id.to_string(),
                kind: kind.to_string(),
                probes: nulls.len() as u32,
                pseudo_effectivity,
                shuffled_mean,
                shuffled_range: (quantile(&means, 0.025), quantile(&means, 0.975)),
                share: if pseudo_effectivity > 0.0 {
                    shuffled_mean / pseudo_effectivity
                } else {
                    f64::NAN
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use factlab_artifacts::Injection;

    use super::*;
    use crate::tables;

    /// Paragraph 0 injected at steps 10, 30, …, 190 (scenario `once`, two paragraphs at each, so
    /// each step weighs twice); paragraphs 1.. are the control.
    fn schedules() -> Schedules {
        let injections: Vec<Injection> = (0..10u32)
            .flat_map(|i| {
                (0..2).map(move |k| Injection {
                    knowledge_id: 100 + k,
                    scenario: "once".into(),
                    exposure: i,
                    step: 10 + 20 * i,
                    row: k,
                    variant: 0,
                    offset: 0,
                    length: 10,
                    text_tokens: 10,
                })
            })
            .collect();
        tables::schedules(&injections, 0, Path::new("injections.parquet")).unwrap()
    }

    /// `probes` control probes (paragraphs 0..) and one injected probe, evaluated at steps
    /// 0..=200, valued `value(probe, step, noise)` with standard normal noise.
    fn runs(probes: u32, value: impl Fn(u32, u32, f64) -> f64) -> Runs {
        let mut noise = Rng::new(7);
        let mut series = BTreeMap::new();
        for probe_id in 0..=probes {
            let knowledge_id = if probe_id == probes { 100 } else { probe_id };
            let values = (0..=200)
                .map(|step| (step, value(probe_id, step, noise.normal())))
                .collect();
            let kind = "memorization".to_string();
            series.insert(
                probe_id,
                ProbeSeries {
                    kind,
                    knowledge_id,
                    values,
                },
            );
        }
        BTreeMap::from([("mid".to_string(), series)])
    }

    #[test]
    fn pure_noise_is_all_window_bias() {
        // Each probe at its own level, noise of 0.1 nats: no trend, so the real rise is the bias.
        let runs = runs(40, |probe, _, noise| {
            -3.0 - 0.05 * f64::from(probe) + 0.1 * noise
        });
        let [row] = rows(&runs, &schedules(), 5, 1).try_into().unwrap();
        assert_eq!((row.run_id.as_str(), row.probes), ("mid", 40));
        // The mean of the largest of 5 standard normals is 1.163: the gain is about 0.116.
        assert!((row.pseudo_effectivity - 0.116).abs() < 0.015, "{row:?}");
        assert!((row.share - 1.0).abs() < 0.12, "{row:?}");
        let (low, high) = row.shuffled_range;
        assert!(
            low < row.shuffled_mean && row.shuffled_mean < high,
            "{row:?}"
        );
        // 40 probes × 10 injections: the null is pinned down to about ± 10 % of itself.
        assert!(high - low < 0.25 * row.shuffled_mean, "{row:?}");
    }

    #[test]
    fn a_steady_trend_is_not_window_bias() {
        // 0.01 nats per step, noise of 0.002: a window of 5 steps rises by 0.05.
        let runs = runs(40, |probe, step, noise| {
            -3.0 - 0.05 * f64::from(probe) + 0.01 * f64::from(step) + 0.002 * noise
        });
        let [row] = rows(&runs, &schedules(), 5, 1).try_into().unwrap();
        assert!((row.pseudo_effectivity - 0.05).abs() < 0.003, "{row:?}");
        // What is left is the noise's bias, about 0.002 × 1.16.
        assert!(row.share < 0.06, "{row:?}");
        assert!((row.shuffled_mean - 0.0023).abs() < 0.001, "{row:?}");
    }

    #[test]
    fn a_bending_trend_is_not_window_bias() {
        // ℓ climbs fast, then flattens (1 − e^(−step/100)), noise of 0.001. One line over the
        // whole continuation would miss the bend by up to 0.1 nats and count that as noise.
        let runs = runs(40, |probe, step, noise| {
            -3.0 - 0.05 * f64::from(probe) - (-f64::from(step) / 100.0).exp() + 0.001 * noise
        });
        let [row] = rows(&runs, &schedules(), 5, 1).try_into().unwrap();
        // e^(−t/100) (1 − e^(−0.05)) averaged over t = 10, 30, …, 190.
        let rise = (0..10)
            .map(|i| (-f64::from(10 + 20 * i) / 100.0).exp())
            .sum::<f64>()
            / 10.0
            * (1.0 - (-0.05f64).exp());
        assert!(
            (row.pseudo_effectivity - rise).abs() < 0.002,
            "{row:?} {rise}"
        );
        assert!(row.share < 0.15, "{row:?}");
    }

    #[test]
    fn the_null_depends_on_the_seed_only() {
        let noise = |probe: u32, _: u32, noise: f64| f64::from(probe) + noise;
        let once = rows(&runs(6, noise), &schedules(), 3, 5);
        assert_eq!(once, rows(&runs(6, noise), &schedules(), 3, 5));
        assert_ne!(
            once[0].shuffled_mean,
            rows(&runs(6, noise), &schedules(), 3, 6)[0].shuffled_mean
        );
        // The injected probe is left out.
        assert_eq!(once[0].probes, 6);
    }

    #[test]
    fn no_control_gives_no_rows() {
        let mut runs = runs(0, |_, _, noise| noise);
        assert!(rows(&runs, &schedules(), 5, 1).is_empty());
        runs.clear();
        assert!(rows(&runs, &schedules(), 5, 1).is_empty());
    }
}
