//! The few statistics the paper's metrics need.

use factlab_rng::Rng;

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Quantile with linear interpolation between order statistics (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64)
}

/// Values inside [Q1 − factor·IQR, Q3 + factor·IQR].
pub fn without_outliers(values: &[f64], factor: f64) -> Vec<f64> {
    if values.len() < 4 {
        return values.to_vec();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
    let (lo, hi) = (q1 - factor * (q3 - q1), q3 + factor * (q3 - q1));
    values
        .iter()
        .copied()
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// Percentile bootstrap 95 % interval of the mean.
pub fn bootstrap_interval(values: &[f64], resamples: usize, rng: &mut Rng) -> (f64, f64) {
    if values.len() < 2 || resamples == 0 {
        let m = mean(values);
        return (m, m);
    }
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            (0..values.len())
                .map(|_| values[rng.below(values.len())])
                .sum::<f64>()
                / values.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    (quantile(&means, 0.025), quantile(&means, 0.975))
}

/// Percentile bootstrap 95 % interval of mean(a) − mean(b), resampling each group on its own.
pub fn bootstrap_difference_interval(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    rng: &mut Rng,
) -> (f64, f64) {
    let difference = mean(a) - mean(b);
    if a.len() < 2 || b.len() < 2 || resamples == 0 {
        return (difference, difference);
    }
    let mut resample_mean = |values: &[f64]| {
        (0..values.len())
            .map(|_| values[rng.below(values.len())])
            .sum::<f64>()
            / values.len() as f64
    };
    let mut differences: Vec<f64> = (0..resamples)
        .map(|_| resample_mean(a) - resample_mean(b))
        .collect();
    differences.sort_by(f64::total_cmp);
    (quantile(&differences, 0.025), quantile(&differences, 0.975))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
    pub slope_stderr: f64,
    pub r_squared: f64,
}

/// Ordinary least squares of `y` on `x`; `None` with fewer than 3 points or constant `x`.
pub fn least_squares(x: &[f64], y: &[f64]) -> Option<Line> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    let sst: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    Some(Line {
        slope,
        intercept,
        slope_stderr: (sse / (n - 2) as f64 / sxx).sqrt(),
        r_squared: if sst == 0.0 { 1.0 } else { 1.0 - sse / sst },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_known_line() {
        let x: Vec<f64> = (0..10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 0.9 - 0.2 * v).collect();
        let line = least_squares(&x, &y).unwrap();
        assert!((line.slope + 0.2).abs() < 1e-12 && (line.intercept - 0.9).abs() < 1e-12);
        assert!(line.slope_stderr < 1e-9 && (line.r_squared - 1.0).abs() < 1e-12);
        let noisy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 0.05 } else { -0.05 })
            .collect();
        let line = least_squares(&x, &noisy).unwrap();
        assert!(line.slope_stderr > 0.0 && line.r_squared < 1.0 && line.r_squared > 0.9);
    }

    #[test]
    fn quantiles_and_outliers() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&sorted, 0.5), 3.0);
        assert_eq!(quantile(&sorted, 0.25), 2.0);
        assert_eq!(quantile(&sorted, 0.1), 1.4);
        let kept = without_outliers(&[1.0, 2.0, 3.0, 4.0, 5.0, 40.0], 1.5);
        assert_eq!(kept, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            without_outliers(&[1.0, 2.0, 3.0, 4.0, 5.0, 40.0], 20.0).len(),
            6
        );
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_shrinks_with_more_data() {
        let mut rng = Rng::new(1);
        let small: Vec<f64> = (0..10).map(|i| (i % 5) as f64).collect();
        let large: Vec<f64> = (0..1000).map(|i| (i % 5) as f64).collect();
        let (lo, hi) = bootstrap_interval(&small, 2000, &mut rng);
        assert!(lo < 2.0 && 2.0 < hi);
        let (lo2, hi2) = bootstrap_interval(&large, 2000, &mut rng);
        assert!(hi2 - lo2 < (hi - lo) / 3.0);
    }
}
