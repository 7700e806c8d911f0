//! The few statistics the paper's metrics need.

pub(crate) use factlab_inference::quantile;

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// [Q1 − factor·IQR, Q3 + factor·IQR] of `values`; everything with fewer than 4 values.
fn inlier_range(values: &[f64], factor: f64) -> std::ops::RangeInclusive<f64> {
    if values.len() < 4 {
        return f64::NEG_INFINITY..=f64::INFINITY;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
    q1 - factor * (q3 - q1)..=q3 + factor * (q3 - q1)
}

/// Values inside [Q1 − factor·IQR, Q3 + factor·IQR].
pub fn without_outliers(values: &[f64], factor: f64) -> Vec<f64> {
    let range = inlier_range(values, factor);
    values
        .iter()
        .copied()
        .filter(|v| range.contains(v))
        .collect()
}

/// The (paragraph, value) pairs whose value passes the same filter.
pub fn inliers(pairs: Vec<(u32, f64)>, factor: f64) -> Vec<(u32, f64)> {
    let values: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let range = inlier_range(&values, factor);
    pairs.into_iter().filter(|p| range.contains(&p.1)).collect()
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
}
