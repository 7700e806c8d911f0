//! Paragraph resamples: what the bootstrap draws.
//!
//! The unit the experiment randomised is the paragraph: the probes of one paragraph share its
//! injection steps, batches and learning rates, so they are not independent. Every draw resamples
//! paragraphs with replacement within each stratum the design fixed (each scenario's injected
//! paragraphs, and the never-injected control), and a probe weighs as often as its paragraph was
//! drawn. One set of draws serves every table of a fit: the runs continued from the same
//! paragraphs and the kinds probing them are resampled together, so a difference of two
//! estimates, draw by draw, is a paired difference.
//!
//! The draws are stretched about the point estimate by [`factlab_inference::expansion_factor`]
//! for the smallest stratum: with 8 paragraphs a plain percentile interval would cover about 89 %
//! instead of 95 %.

use std::collections::{BTreeMap, BTreeSet};

use factlab_inference::{expansion_factor, rule::LEVEL, Resampled};
use factlab_rng::Rng;

/// The stratum of never-injected paragraphs, named as the trajectory names their rows.
pub(crate) const CONTROL: &str = factlab_artifacts::TrajectoryRow::CONTROL_SCENARIO;

pub(crate) struct ParagraphDraws {
    /// Paragraph → its slot in `counts`.
    slots: BTreeMap<u32, usize>,
    /// Per slot: how many times each draw took that paragraph.
    counts: Vec<Vec<u32>>,
    draws: usize,
    factor: f64,
    /// Paragraphs in the smallest stratum.
    smallest_stratum: usize,
}

impl ParagraphDraws {
    /// `strata`: stratum name → its paragraphs. Each stratum is drawn from its own stream, so
    /// adding a stratum leaves the others' draws as they were.
    pub(crate) fn new(strata: &BTreeMap<String, BTreeSet<u32>>, draws: usize, seed: u64) -> Self {
        let mut slots = BTreeMap::new();
        let mut counts = Vec::new();
        for (index, paragraphs) in strata.values().enumerate() {
            let first = counts.len();
            for &p in paragraphs {
                slots.insert(p, counts.len());
                counts.push(vec![0; draws]);
            }
            let n = paragraphs.len();
            let mut rng = Rng::derive(seed, &[0x5041_5241, index as u64]);
            let picks: Vec<Vec<usize>> = (0..draws)
                .map(|_| (0..n).map(|_| rng.below(n)).collect())
                .collect();
            for (draw, picked) in picks.iter().enumerate() {
                for &i in picked {
                    counts[first + i][draw] += 1;
                }
            }
        }
        let smallest_stratum = strata.values().map(BTreeSet::len).min().unwrap_or(0);
        ParagraphDraws {
            slots,
            counts,
            draws,
            factor: expansion_factor(smallest_stratum, LEVEL),
            smallest_stratum,
        }
    }

    pub(crate) fn draws(&self) -> usize {
        self.draws
    }

    pub(crate) fn smallest_stratum(&self) -> usize {
        self.smallest_stratum
    }

    pub(crate) fn factor(&self) -> f64 {
        self.factor
    }

    /// Where `paragraph`'s counts are, for [`Self::count_at`]; `None` for one in no stratum.
    pub(crate) fn slot(&self, paragraph: u32) -> Option<usize> {
        self.slots.get(&paragraph).copied()
    }

    /// How many times draw `draw` took the paragraph in `slot`.
    pub(crate) fn count_at(&self, slot: usize, draw: usize) -> u32 {
        self.counts[slot][draw]
    }

    /// How many times draw `draw` took paragraph `paragraph` (0 for one in no stratum).
    #[cfg(test)]
    pub(crate) fn count(&self, paragraph: u32, draw: usize) -> u32 {
        self.slot(paragraph)
            .map_or(0, |slot| self.count_at(slot, draw))
    }

    /// The mean of `values` (paragraph, value) and its draws, stretched. A draw that took none of
    /// the values' paragraphs keeps the point.
    pub(crate) fn mean(&self, values: &[(u32, f64)]) -> Resampled {
        let point = values.iter().map(|v| v.1).sum::<f64>() / values.len() as f64;
        let slotted: Vec<(Option<usize>, f64)> =
            values.iter().map(|&(p, v)| (self.slot(p), v)).collect();
        let draws = (0..self.draws)
            .map(|draw| {
                let (mut sum, mut weight) = (0.0, 0.0);
                for &(slot, value) in &slotted {
                    let w = f64::from(slot.map_or(0, |s| self.count_at(s, draw)));
                    sum += w * value;
                    weight += w;
                }
                if weight > 0.0 {
                    sum / weight
                } else {
                    point
                }
            })
            .collect();
        self.stretch(Resampled::new(point, draws))
    }

    /// Draws computed elsewhere (a refitted curve), stretched like every other estimate's.
    pub(crate) fn stretch(&self, estimate: Resampled) -> Resampled {
        estimate.stretched(self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strata() -> BTreeMap<String, BTreeSet<u32>> {
        BTreeMap::from([
            ("once".to_string(), (0..8).collect()),
            (CONTROL.to_string(), (100..108).collect()),
        ])
    }

    #[test]
    fn each_draw_takes_as_many_paragraphs_as_its_stratum_holds() {
        let draws = ParagraphDraws::new(&strata(), 50, 7);
        for draw in 0..50 {
            let once: u32 = (0..8).map(|p| draws.count(p, draw)).sum();
            let control: u32 = (100..108).map(|p| draws.count(p, draw)).sum();
            assert_eq!((once, control), (8, 8));
        }
        assert_eq!(draws.count(55, 0), 0);
        assert!((draws.factor() - expansion_factor(8, 0.95)).abs() < 1e-12);
    }

    #[test]
    fn probes_of_one_paragraph_move_together() {
        // Five probes per paragraph with identical values: the spread is the paragraphs' spread,
        // whatever the number of probes.
        let draws = ParagraphDraws::new(&strata(), 2000, 1);
        let one: Vec<(u32, f64)> = (0..8).map(|p| (p, f64::from(p))).collect();
        let five: Vec<(u32, f64)> = (0..8)
            .flat_map(|p| std::iter::repeat_n((p, f64::from(p)), 5))
            .collect();
        let (a, b) = (draws.mean(&one), draws.mean(&five));
        assert_eq!(a.point, b.point);
        assert!((a.standard_error() - b.standard_error()).abs() < 1e-9);
    }
}
