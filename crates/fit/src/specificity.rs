//! The specificity gain: effectivity on ℓ(true) − ℓ(foil), where `train` scored each probe's
//! foil (another paragraph's target of the same kind and about the same token length, under the
//! probe's own prompt).
//!
//! The control of effectivity is other paragraphs, so net effectivity shows that a rise belongs
//! to the injected paragraph. The foil asks whether it belongs to the fact: a model that only
//! grew fond of the paragraph's words would raise the foil as much as the target. Foils are scored
//! at fewer steps than probes, so the value before an injection is the last one scored at or
//! before its step, and the window's maximum runs over the steps that were scored. The never-
//! injected control's specificity gain, by the same rule at each scenario's steps, measures what a
//! maximum over a noisy window adds to a series with no specific rise; the net specificity gain
//! subtracts it.

use std::collections::BTreeMap;

use factlab_inference::Resampled;

use crate::resampling::ParagraphDraws;
use crate::tables::Schedules;
use crate::{stats, Group, ProbeSeries, Runs};

/// One group's specificity gain, and the difference from its control's.
pub(crate) struct Specificity {
    pub gain: Resampled,
    pub net: Option<Resampled>,
}

/// A series' mean gain from each of `steps` to its window maximum; `None` without a window.
fn mean_gain(series: &ProbeSeries, steps: &[u32], window: u32) -> Option<f64> {
    let gains: Vec<f64> = steps
        .iter()
        .filter_map(|&t| {
            let before = series.at_or_before(t)?;
            let (_, best) = series.acquisition_maximum(t, window)?;
            Some(best - before)
        })
        .collect();
    (!gains.is_empty()).then(|| stats::mean(&gains))
}

/// Per run × scenario × kind with foils scored: the injected probes' specificity gains at their
/// own injections and the control probes' at the scenario's.
pub(crate) fn estimates(
    runs: &Runs,
    schedules: &Schedules,
    window: u32,
    draws: &ParagraphDraws,
) -> BTreeMap<Group, Specificity> {
    type Gains = BTreeMap<Group, Vec<(u32, f64)>>;
    let (mut injected, mut control): (Gains, Gains) = Default::default();
    for (run, probes) in runs {
        for series in probes.values() {
            let key = |scenario: &str| (run.clone(), scenario.to_string(), series.kind.clone());
            match schedules.by_knowledge.get(&series.knowledge_id) {
                Some(schedule) => {
                    if let Some(g) = mean_gain(series, &schedule.steps, window) {
                        let entry = injected.entry(key(&schedule.scenario)).or_default();
                        entry.push((series.knowledge_id, g));
                    }
                }
                None => {
                    for (scenario, steps) in &schedules.by_scenario {
                        if let Some(g) = mean_gain(series, steps, window) {
                            let entry = control.entry(key(scenario)).or_default();
                            entry.push((series.knowledge_id, g));
                        }
                    }
                }
            }
        }
    }
    injected
        .into_iter()
        .map(|(group, gains)| {
            let gain = draws.mean(&gains);
            let net = control.get(&group).map(|c| gain.minus(&draws.mean(c)));
            (group, Specificity { gain, net })
        })
        .collect()
}
