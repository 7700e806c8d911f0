//! Step schedules (`--eval-schedule`, `--save-at`) and the learning-rate schedule.

use factlab_cli::MAX_STEPS;
use serde::{Deserialize, Serialize};

/// The most steps a schedule may list (4 MB of step numbers): far more than any evaluation or
/// checkpoint schedule needs, and a schedule such as `0..=4294967295` is refused before
/// anything is allocated.
pub const MAX_SCHEDULE_STEPS: u64 = 1_000_000;

/// A parsed step schedule (`--eval-schedule`, `--save-at`): sorted, distinct steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepSchedule(pub Vec<u32>);

/// [`parse_steps`] as a clap value parser.
pub fn parse_step_schedule(text: &str) -> Result<StepSchedule, String> {
    parse_steps(text).map(StepSchedule)
}

/// Parses the step-list language into sorted, distinct steps. Items are separated by commas:
/// `N` (one step), `a..b` / `a..=b` (every step, end exclusive / inclusive), `a..=b:k` (every
/// k-th step), `log(a..=b, k)` (k points spaced evenly in log step from a to b, rounded; a = 0
/// adds step 0 and spaces the rest from 1).
/// Example: `0..=20, 30..100:10, log(100..=2500, 20)`.
///
/// Steps are at most [`MAX_STEPS`] and a schedule lists at most [`MAX_SCHEDULE_STEPS`] steps
/// (counted before any is generated).
pub fn parse_steps(text: &str) -> Result<Vec<u32>, String> {
    let mut steps = Vec::new();
    let mut listed = 0u64;
    for item in split_top_level(text) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("step schedule item `{item}`: {why}");
        let more = |listed: &mut u64, n: u64| {
            *listed += n;
            if *listed > MAX_SCHEDULE_STEPS {
                Err(bad(&format!(
                    "the schedule would list {listed} steps; at most {MAX_SCHEDULE_STEPS}"
                )))
            } else {
                Ok(())
            }
        };
        if let Some(inner) = item.strip_prefix("log(").and_then(|r| r.strip_suffix(')')) {
            let (range, count) = inner
                .split_once(',')
                .ok_or_else(|| bad("expected log(a..=b, k)"))?;
            let (start, end) = parse_range(range.trim()).map_err(|e| bad(&e))?;
            let count: u32 = count.trim().parse().map_err(|_| bad("k is not a number"))?;
            more(&mut listed, u64::from(count))?;
            steps.extend(log_spaced(start, end, count).map_err(|e| bad(&e))?);
        } else if item.contains("..") {
            let (range, stride) = match item.split_once(':') {
                Some((r, k)) => (r, k.trim().parse().map_err(|_| bad("bad stride"))?),
                None => (item, 1u32),
            };
            if stride == 0 {
                return Err(bad("stride must be positive"));
            }
            let (start, end) = parse_range(range.trim()).map_err(|e| bad(&e))?;
            more(&mut listed, u64::from(end - start) / u64::from(stride) + 1)?;
            steps.extend((start..=end).step_by(stride as usize));
        } else {
            let step: u32 = item.parse().map_err(|_| bad("not a step number"))?;
            check_step(step).map_err(|e| bad(&e))?;
            more(&mut listed, 1)?;
            steps.push(step);
        }
    }
    steps.sort_unstable();
    steps.dedup();
    Ok(steps)
}

fn check_step(step: u32) -> Result<(), String> {
    if step > MAX_STEPS {
        return Err(format!(
            "step {step} is beyond {MAX_STEPS}, the most steps a run may have"
        ));
    }
    Ok(())
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `a..b` or `a..=b` as an inclusive pair.
fn parse_range(text: &str) -> Result<(u32, u32), String> {
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not a step number"))
    };
    let (start, end) = if let Some((a, b)) = text.split_once("..=") {
        (number(a)?, number(b)?)
    } else if let Some((a, b)) = text.split_once("..") {
        let b = number(b)?;
        if b == 0 {
            return Err("empty range".into());
        }
        (number(a)?, b - 1)
    } else {
        return Err("expected a range a..b or a..=b".into());
    };
    if end < start {
        return Err("empty range".into());
    }
    check_step(end)?;
    Ok((start, end))
}

fn log_spaced(start: u32, end: u32, count: u32) -> Result<Vec<u32>, String> {
    if count < 2 {
        return Err("k must be at least 2".into());
    }
    let mut steps = Vec::new();
    let from = if start == 0 {
        steps.push(0);
        1
    } else {
        start
    };
    let (lo, hi) = (f64::from(from).ln(), f64::from(end.max(from)).ln());
    steps.extend((0..count).map(|i| {
        (lo + (hi - lo) * f64::from(i) / f64::from(count - 1))
            .exp()
            .round() as u32
    }));
    Ok(steps)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrShape {
    Cosine,
    Linear,
    Constant,
}

/// Where a continuation (`--init`) takes its learning rate from (`--continuation-lr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ContinuationLr {
    /// The checkpoint's scheduled rate (that of its next update), constant for the whole run:
    /// Chang et al. continue OLMo, whose schedule moves under 1 % over their 2,500 steps.
    Hold,
    /// On along the checkpoint's schedule from its position (afresh with --reset-schedule),
    /// which the schedule flags may change.
    Schedule,
}

/// Linear warmup to `peak`, then cosine or linear decay to `peak × final_ratio` at
/// `total_steps`, held there after; or one constant rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    pub shape: LrShape,
    pub peak: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub final_ratio: f64,
}

impl LrSchedule {
    pub fn constant(lr: f64) -> Self {
        LrSchedule {
            shape: LrShape::Constant,
            peak: lr,
            warmup_steps: 0,
            total_steps: 0,
            final_ratio: 1.0,
        }
    }

    /// The rate of the update at scheduler position `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if self.shape == LrShape::Constant {
            return self.peak;
        }
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let floor = self.peak * self.final_ratio;
        let fraction = match self.shape {
            LrShape::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            _ => 1.0 - progress,
        };
        floor + (self.peak - floor) * fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item_kind() {
        assert_eq!(
            parse_steps("0..=3, 10..20:5, 7").unwrap(),
            vec![0, 1, 2, 3, 7, 10, 15]
        );
        assert_eq!(parse_steps("2..4").unwrap(), vec![2, 3]);
        assert_eq!(
            parse_steps("log(1..=1000, 4)").unwrap(),
            vec![1, 10, 100, 1000]
        );
        assert_eq!(parse_steps("log(0..=100, 3)").unwrap(), vec![0, 1, 10, 100]);
        assert!(parse_steps("5..2").is_err());
        assert!(parse_steps("x").is_err());
        assert!(parse_steps("log(1..=9)").is_err());
        let huge = parse_steps("0..=4294967295").unwrap_err();
        assert!(huge.contains("beyond 100000000"), "{huge}");
        let many = parse_steps("0..=2000000").unwrap_err();
        assert!(many.contains("at most 1000000"), "{many}");
        assert!(parse_steps("log(1..=100, 4000000000)").is_err());
        assert!(parse_steps("0..=999999").is_ok());
    }

    #[test]
    fn warmup_then_decay_to_floor() {
        let s = LrSchedule {
            shape: LrShape::Cosine,
            peak: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            final_ratio: 0.1,
        };
        assert_eq!(s.lr(0), 0.25);
        assert_eq!(s.lr(3), 1.0);
        assert_eq!(s.lr(4), 1.0);
        assert!((s.lr(9) - 0.55).abs() < 1e-12);
        assert!((s.lr(14) - 0.1).abs() < 1e-12);
        assert!((s.lr(100) - 0.1).abs() < 1e-12);
        let linear = LrSchedule {
            shape: LrShape::Linear,
            ..s
        };
        assert!((linear.lr(9) - 0.55).abs() < 1e-12);
        assert_eq!(LrSchedule::constant(0.3).lr(5), 0.3);
    }
}
