//! The decision rule of `docs/fidelity.md`, on paired bootstrap draws.
//!
//! A comparison A > B is judged on the draws of A − B (paired: the same paragraph resamples):
//! **yes** when its 95 % interval lies above 0, **opposite** when below, **direction** when only
//! the point is above, **no** otherwise. A finding is judged on one statistic, the mean of its
//! comparisons' differences (pooled), so that its false-positive rate is that of one test and not
//! of the best of six to nine correlated ones:
//! - **reproduced**: the pooled interval lies above 0 and at least two thirds of the comparisons
//!   are yes;
//! - **partly**: the pooled interval lies above 0;
//! - **opposite**: it lies below 0;
//! - **not shown** otherwise, beside the smallest pooled effect the run could have detected.
//!
//! A null finding ("no rise") is an equivalence test: **equivalent** when the 90 % interval of
//! the pooled difference lies inside ±δ (two one-sided 5 % tests), **rise** when its 95 % interval
//! lies above 0, **inconclusive** otherwise. Nothing here depends on the number of seeds.

use crate::Resampled;

/// The level of every interval a comparison or finding is judged by.
pub const LEVEL: f64 = 0.95;
/// The level of the equivalence test's interval: 90 % is two one-sided tests at 5 %.
pub const EQUIVALENCE_LEVEL: f64 = 0.90;
/// δ of the equivalence test as a share of the earlier value's size (`docs/fidelity.md` says
/// why a quarter).
pub const EQUIVALENCE_MARGIN: f64 = 0.25;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    Direction,
    No,
    Opposite,
    /// The equivalence test's: inside ±δ.
    Within,
    /// The equivalence test's: a significant rise.
    Rise,
    /// The equivalence test's: neither.
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::Direction => "direction",
            Verdict::No => "no",
            Verdict::Opposite => "opposite",
            Verdict::Within => "within ±δ",
            Verdict::Rise => "rise",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A > B, from the draws of A − B.
pub fn ordering(difference: &Resampled) -> Verdict {
    let (low, high) = difference.interval(LEVEL);
    if low > 0.0 {
        Verdict::Yes
    } else if high < 0.0 {
        Verdict::Opposite
    } else if difference.point > 0.0 {
        Verdict::Direction
    } else {
        Verdict::No
    }
}

/// "B does not rise to A" within `margin`, from the draws of A − B.
pub fn equivalence(difference: &Resampled, margin: f64) -> Verdict {
    let (low, _) = difference.interval(LEVEL);
    let (low90, high90) = difference.interval(EQUIVALENCE_LEVEL);
    if low > 0.0 {
        Verdict::Rise
    } else if -margin < low90 && high90 < margin {
        Verdict::Within
    } else {
        Verdict::Inconclusive
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reproduced,
    Partly,
    NotShown,
    Opposite,
    /// A null finding that the equivalence test supports.
    Equivalent,
    /// A null finding contradicted: a significant rise.
    Rise,
    /// A null finding the run cannot decide.
    Inconclusive,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Reproduced => "reproduced",
            Outcome::Partly => "partly",
            Outcome::NotShown => "not shown",
            Outcome::Opposite => "opposite",
            Outcome::Equivalent => "reproduced (equivalent within ±δ)",
            Outcome::Rise => "not reproduced (a rise)",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// Whether the outcome claims the paper's finding, in full or in part: what the calibration
    /// counts as a false positive on data with no effect.
    pub fn claims(self) -> bool {
        matches!(
            self,
            Outcome::Reproduced | Outcome::Partly | Outcome::Equivalent
        )
    }
}

/// A finding judged: its outcome, the pooled difference and each comparison's verdict.
#[derive(Clone, Debug)]
pub struct Judged {
    pub outcome: Outcome,
    pub pooled: Resampled,
    pub verdicts: Vec<Verdict>,
    /// δ of an equivalence test.
    pub margin: Option<f64>,
}

impl Judged {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.verdicts.iter().filter(|&&v| v == verdict).count()
    }
}

/// An ordering finding from its comparisons' differences A − B (at least one).
pub fn judge_ordering(differences: &[Resampled]) -> Judged {
    let pooled = Resampled::mean_of(differences);
    let verdicts: Vec<Verdict> = differences.iter().map(ordering).collect();
    let yes = verdicts.iter().filter(|&&v| v == Verdict::Yes).count();
    let (low, high) = pooled.interval(LEVEL);
    let outcome = if low > 0.0 && 3 * yes >= 2 * differences.len() {
        Outcome::Reproduced
    } else if low > 0.0 {
        Outcome::Partly
    } else if high < 0.0 {
        Outcome::Opposite
    } else {
        Outcome::NotShown
    };
    Judged {
        outcome,
        pooled,
        verdicts,
        margin: None,
    }
}

/// A null finding "A does not rise above B" from its comparisons' differences A − B, with δ a
/// share [`EQUIVALENCE_MARGIN`] of `reference`, the size of B.
pub fn judge_equivalence(differences: &[Resampled], reference: f64) -> Judged {
    let margin = EQUIVALENCE_MARGIN * reference.abs();
    let pooled = Resampled::mean_of(differences);
    let verdicts = differences.iter().map(|d| equivalence(d, margin)).collect();
    let outcome = match equivalence(&pooled, margin) {
        Verdict::Rise => Outcome::Rise,
        Verdict::Within => Outcome::Equivalent,
        _ => Outcome::Inconclusive,
    };
    Judged {
        outcome,
        pooled,
        verdicts,
        margin: Some(margin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An estimate whose draws spread evenly over point ± half.
    fn around(point: f64, half: f64) -> Resampled {
        Resampled::new(
            point,
            (0..=200)
                .map(|i| point - half + half * f64::from(i) / 100.0)
                .collect(),
        )
    }

    #[test]
    fn comparisons_follow_the_interval_of_the_difference() {
        assert_eq!(ordering(&around(0.5, 0.2)), Verdict::Yes);
        assert_eq!(ordering(&around(0.1, 0.2)), Verdict::Direction);
        assert_eq!(ordering(&around(-0.1, 0.2)), Verdict::No);
        assert_eq!(ordering(&around(-0.5, 0.2)), Verdict::Opposite);
    }

    #[test]
    fn a_finding_needs_its_pooled_difference_apart_from_zero() {
        let judged = judge_ordering(&[around(0.5, 0.2), around(0.5, 0.2), around(0.1, 0.2)]);
        assert_eq!(judged.outcome, Outcome::Reproduced);
        let judged = judge_ordering(&[around(0.5, 0.2), around(0.1, 0.2), around(0.1, 0.2)]);
        assert_eq!(judged.outcome, Outcome::Partly);
        // One comparison apart and the rest against it: the pooled mean does not separate.
        let judged = judge_ordering(&[around(0.5, 0.2), around(-0.3, 0.2), around(-0.1, 0.2)]);
        assert_eq!(judged.outcome, Outcome::NotShown);
        assert_eq!(judged.count(Verdict::Yes), 1);
        assert_eq!(
            judge_ordering(&[around(-0.5, 0.2)]).outcome,
            Outcome::Opposite
        );
    }

    #[test]
    fn equivalence_needs_a_narrow_interval_inside_the_margin() {
        // δ = 0.25 × 1.0.
        assert_eq!(
            judge_equivalence(&[around(0.0, 0.1)], 1.0).outcome,
            Outcome::Equivalent
        );
        assert_eq!(
            judge_equivalence(&[around(0.0, 0.5)], 1.0).outcome,
            Outcome::Inconclusive
        );
        assert_eq!(
            judge_equivalence(&[around(0.6, 0.3)], 1.0).outcome,
            Outcome::Rise
        );
        assert!(!Outcome::Inconclusive.claims() && Outcome::Equivalent.claims());
    }
}
