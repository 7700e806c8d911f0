//! The quantiles the intervals need: the standard normal's and Student's t.

/// Φ(x) by Simpson's rule on the density from 0 to |x| (error below 1e-12 for |x| ≤ 8, far below
/// what a bootstrap interval resolves); std has no erf.
fn normal_cdf(x: f64) -> f64 {
    let steps = 2_000;
    let h = x.abs() / steps as f64;
    let density = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut sum = density(0.0) + density(x.abs());
    for i in 1..steps {
        let weight = if i % 2 == 1 { 4.0 } else { 2.0 };
        sum += weight * density(i as f64 * h);
    }
    let half = sum * h / 3.0;
    if x >= 0.0 {
        0.5 + half
    } else {
        0.5 - half
    }
}

/// The standard normal quantile z(p), by bisection on [`normal_cdf`].
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "a quantile needs 0 < p < 1, got {p}");
    let (mut lo, mut hi) = (-9.0_f64, 9.0_f64);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Student's t quantile with `df` degrees of freedom: exact for 1 and 2, by bisection on the
/// closed-form distribution function for 3, the Cornish–Fisher expansion in 1/df to the fourth
/// order beyond (Abramowitz & Stegun 26.7.5; within 1e-3 of the tables from df = 4 at the levels
/// used here).
pub fn student_t_quantile(p: f64, df: u32) -> f64 {
    assert!(df >= 1, "Student's t needs at least one degree of freedom");
    match df {
        1 => (std::f64::consts::PI * (p - 0.5)).tan(),
        2 => (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt(),
        3 => {
            let cdf = |t: f64| {
                let x = t / 3f64.sqrt();
                0.5 + (x.atan() + x / (1.0 + x * x)) / std::f64::consts::PI
            };
            let (mut lo, mut hi) = (-1e3_f64, 1e3_f64);
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if cdf(mid) < p {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        }
        _ => {
            let z = normal_quantile(p);
            let n = f64::from(df);
            let z3 = z.powi(3);
            let z5 = z.powi(5);
            let z7 = z.powi(7);
            let z9 = z.powi(9);
            let g1 = (z3 + z) / 4.0;
            let g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
            let g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
            let g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92_160.0;
            z + g1 / n + g2 / n.powi(2) + g3 / n.powi(3) + g4 / n.powi(4)
        }
    }
}

/// How far to stretch percentile-bootstrap draws about the estimate so that a `level` interval
/// over `units` resampled units has the width of the t interval: √(n/(n−1)) undoes the
/// bootstrap's divisor n in the variance, t over z the normal tails. At 8 paragraphs and 95 %
/// this is 1.29; the plain percentile interval covers only about 89 % there.
pub fn expansion_factor(units: usize, level: f64) -> f64 {
    if units < 2 {
        return 1.0;
    }
    let n = units as f64;
    let p = 0.5 + level / 2.0;
    (n / (n - 1.0)).sqrt() * student_t_quantile(p, units as u32 - 1) / normal_quantile(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_the_tables() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.95) - 1.644_854).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        // Student's t, two-sided 95 % and 90 %, from the printed tables.
        for (df, t975, t95) in [
            (1, 12.706, 6.314),
            (2, 4.303, 2.920),
            (3, 3.182, 2.353),
            (7, 2.365, 1.895),
            (15, 2.131, 1.753),
            (39, 2.023, 1.685),
        ] {
            assert!(
                (student_t_quantile(0.975, df) - t975).abs() < 2e-3,
                "df {df}"
            );
            assert!((student_t_quantile(0.95, df) - t95).abs() < 2e-3, "df {df}");
        }
    }

    #[test]
    fn expansion_shrinks_towards_one_with_more_units() {
        let eight = expansion_factor(8, 0.95);
        assert!((eight - 1.29).abs() < 0.01, "{eight}");
        assert!(expansion_factor(40, 0.95) < 1.05);
        assert_eq!(expansion_factor(1, 0.95), 1.0);
    }
}
