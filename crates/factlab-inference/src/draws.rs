//! Estimates with their bootstrap draws, and how draws of several seeds combine.

use factlab_rng::Rng;

use crate::quantiles::normal_quantile;

/// An estimate and its bootstrap draws: the statistic recomputed on resamples of what was
/// randomised (paragraphs, within a seed). Estimates from one fit share their resamples draw by
/// draw, so a difference taken draw by draw is a paired difference: two runs continued from the
/// same paragraphs, or two probe kinds of the same paragraphs, keep their shared part.
#[derive(Clone, Debug, PartialEq)]
pub struct Resampled {
    pub point: f64,
    pub draws: Vec<f64>,
}

impl Resampled {
    pub fn new(point: f64, draws: Vec<f64>) -> Self {
        Resampled { point, draws }
    }

    /// A known value: no spread (the zero a check compares with).
    pub fn exact(point: f64, draws: usize) -> Self {
        Resampled::new(point, vec![point; draws])
    }

    /// `self − other`, draw by draw.
    pub fn minus(&self, other: &Resampled) -> Resampled {
        assert_eq!(
            self.draws.len(),
            other.draws.len(),
            "paired draws need the same count"
        );
        Resampled::new(
            self.point - other.point,
            self.draws
                .iter()
                .zip(&other.draws)
                .map(|(a, b)| a - b)
                .collect(),
        )
    }

    /// The mean of several estimates, draw by draw.
    pub fn mean_of(items: &[Resampled]) -> Resampled {
        assert!(!items.is_empty(), "a mean of no estimates");
        let n = items.len() as f64;
        let draws = (0..items[0].draws.len())
            .map(|b| items.iter().map(|i| i.draws[b]).sum::<f64>() / n)
            .collect();
        Resampled::new(items.iter().map(|i| i.point).sum::<f64>() / n, draws)
    }

    /// The percentile interval at `level` (0.95: the 2.5 % and 97.5 % quantiles of the draws,
    /// linear between order statistics); the point twice when there are no draws.
    pub fn interval(&self, level: f64) -> (f64, f64) {
        if self.draws.is_empty() {
            return (self.point, self.point);
        }
        let mut sorted = self.draws.clone();
        sorted.sort_by(f64::total_cmp);
        let tail = (1.0 - level) / 2.0;
        (quantile(&sorted, tail), quantile(&sorted, 1.0 - tail))
    }

    /// The standard deviation of the draws: the bootstrap standard error.
    pub fn standard_error(&self) -> f64 {
        let n = self.draws.len();
        if n < 2 {
            return 0.0;
        }
        let mean = self.draws.iter().sum::<f64>() / n as f64;
        (self.draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    }

    /// The smallest true difference that a two-sided 95 % test detects 80 % of the time at this
    /// spread: (z₀.₉₇₅ + z₀.₈₀) × s.e. ≈ 2.8 s.e.
    pub fn minimum_detectable_effect(&self) -> f64 {
        (normal_quantile(0.975) + normal_quantile(0.80)) * self.standard_error()
    }

    /// The draws stretched about the point by `factor` (the small-sample correction of
    /// [`crate::expansion_factor`]); a percentile interval of the result is `factor` times as
    /// wide about the point.
    pub fn stretched(self, factor: f64) -> Resampled {
        let point = self.point;
        let draws = self
            .draws
            .into_iter()
            .map(|d| point + factor * (d - point))
            .collect();
        Resampled::new(point, draws)
    }
}

/// Quantile with linear interpolation between order statistics (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// Seeds first, then paragraphs within them: each of `resamples` draws picks as many seeds as
/// there are, with replacement, and for each pick one of that seed's own draws; the draw is the
/// mean of the picks. The point is the mean over seeds. One seed's estimate is returned as it is.
pub fn across_seeds(per_seed: &[Resampled], resamples: usize, rng: &mut Rng) -> Resampled {
    assert!(!per_seed.is_empty(), "no seeds to combine");
    if per_seed.len() == 1 {
        return per_seed[0].clone();
    }
    let seeds = per_seed.len();
    let point = per_seed.iter().map(|s| s.point).sum::<f64>() / seeds as f64;
    let draws = (0..resamples)
        .map(|_| {
            (0..seeds)
                .map(|_| {
                    let seed = &per_seed[rng.below(seeds)];
                    if seed.draws.is_empty() {
                        seed.point
                    } else {
                        seed.draws[rng.below(seed.draws.len())]
                    }
                })
                .sum::<f64>()
                / seeds as f64
        })
        .collect();
    Resampled::new(point, draws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_differences_keep_the_shared_part_out() {
        let a = Resampled::new(1.0, vec![0.5, 1.0, 1.5]);
        let b = Resampled::new(0.8, vec![0.3, 0.8, 1.3]);
        let d = a.minus(&b);
        assert!((d.point - 0.2).abs() < 1e-12);
        assert!(d.draws.iter().all(|v| (v - 0.2).abs() < 1e-12));
        assert!(d.standard_error() < 1e-12);
        assert!(a.standard_error() > 0.4);
    }

    #[test]
    fn stretching_widens_the_interval_about_the_point() {
        let r = Resampled::new(1.0, (0..101).map(|i| f64::from(i) / 50.0).collect());
        let (lo, hi) = r.interval(0.95);
        let (lo2, hi2) = r.clone().stretched(2.0).interval(0.95);
        assert!((lo2 - (1.0 + 2.0 * (lo - 1.0))).abs() < 1e-12);
        assert!((hi2 - (1.0 + 2.0 * (hi - 1.0))).abs() < 1e-12);
    }

    #[test]
    fn seeds_are_resampled_before_their_draws() {
        // Two seeds with no spread of their own: the combined spread is the seeds' disagreement.
        let seeds = [Resampled::exact(0.0, 50), Resampled::exact(1.0, 50)];
        let combined = across_seeds(&seeds, 4000, &mut Rng::new(3));
        assert_eq!(combined.point, 0.5);
        let se = combined.standard_error();
        // Mean of two picks from {0, 1}: standard deviation 0.5 / √2.
        assert!((se - 0.5 / 2f64.sqrt()).abs() < 0.02, "{se}");
        assert_eq!(across_seeds(&seeds[..1], 10, &mut Rng::new(3)), seeds[0]);
    }
}
