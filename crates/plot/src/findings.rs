//! Verdicts on the findings of Chang et al. 2024 Figure 3 and Table 2, from `fit`'s tables of one
//! or more seeds, by the decision rule of `docs/fidelity.md`:
//! - **yes**: A > B in every seed, intervals disjoint in at least half of them;
//! - **direction**: A > B in every seed, intervals overlapping in more than half;
//! - **opposite**: B > A in every seed, intervals disjoint in at least half;
//! - **no**: anything else.
//!
//! A finding is reproduced when at least two thirds of its comparisons are **yes** (for the null
//! finding F2, when at least two thirds are not), partly when at least one is.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use factlab_artifacts::{DecayRow, EffectivityRow, ProbeKind};

/// Which effectivity value the comparisons use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// E − E_control, mean over target tokens.
    Net,
    /// E, mean over target tokens, control not subtracted.
    Raw,
    /// E − E_control on the first target token.
    FirstToken,
}

/// The runs the findings compare, named as in the Makefile.
#[derive(Clone, Debug)]
pub struct Runs {
    pub early: String,
    pub mid: String,
    pub late: String,
    pub large: String,
}

/// One seed's tables.
pub struct Seed {
    pub effectivity: Vec<EffectivityRow>,
    pub decay: Vec<DecayRow>,
}

/// A value with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Estimate {
    value: f64,
    low: f64,
    high: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Yes,
    Direction,
    Opposite,
    No,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::Direction => "direction",
            Verdict::Opposite => "opposite",
            Verdict::No => "no",
        }
    }
}

/// A > B over seeds, by the decision rule.
fn verdict(pairs: &[(Estimate, Estimate)]) -> Verdict {
    let half = pairs.len().div_ceil(2);
    let above = pairs.iter().all(|(a, b)| a.value > b.value);
    let below = pairs.iter().all(|(a, b)| a.value < b.value);
    let apart_up = pairs.iter().filter(|(a, b)| a.low > b.high).count();
    let apart_down = pairs.iter().filter(|(a, b)| b.low > a.high).count();
    match (above, below) {
        (true, _) if apart_up >= half => Verdict::Yes,
        (true, _) => Verdict::Direction,
        (_, true) if apart_down >= half => Verdict::Opposite,
        _ => Verdict::No,
    }
}

struct Comparison {
    label: String,
    /// Per seed: (A, B).
    pairs: Vec<(Estimate, Estimate)>,
    verdict: Verdict,
}

struct Finding {
    id: &'static str,
    claim: &'static str,
    /// A null finding holds where its comparisons are *not* yes.
    null: bool,
    comparisons: Vec<Comparison>,
}

impl Finding {
    fn outcome(&self) -> String {
        let total = self.comparisons.len();
        if total == 0 {
            return "not measured (missing runs or rows)".into();
        }
        let yes = self.count(Verdict::Yes);
        let holding = if self.null { total - yes } else { yes };
        let opposite = self.count(Verdict::Opposite);
        let word = if 3 * holding >= 2 * total {
            "reproduced"
        } else if holding > 0 {
            "partly"
        } else {
            "not reproduced"
        };
        let mut text = format!("**{word}** ({holding} of {total})");
        if opposite > 0 && !self.null {
            let _ = write!(text, "; {opposite} opposite");
        }
        text
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.comparisons
            .iter()
            .filter(|c| c.verdict == verdict)
            .count()
    }
}

fn effectivity(
    seed: &Seed,
    metric: Metric,
    run: &str,
    scenario: &str,
    kind: &str,
) -> Option<Estimate> {
    let r = seed
        .effectivity
        .iter()
        .find(|r| r.run_id == run && r.scenario == scenario && r.kind == kind)?;
    let (value, low, high) = match metric {
        Metric::Net => (r.net_mean, r.net_ci_low, r.net_ci_high),
        Metric::Raw => (r.mean, r.ci_low, r.ci_high),
        Metric::FirstToken => (
            r.first_token_net_mean,
            r.first_token_net_ci_low,
            r.first_token_net_ci_high,
        ),
    };
    value.is_finite().then_some(Estimate { value, low, high })
}

fn decay(seed: &Seed, run: &str, scenario: &str, kind: &str) -> Option<Estimate> {
    let d = seed
        .decay
        .iter()
        .find(|d| d.run_id == run && d.scenario == scenario && d.kind == kind)?;
    let half = 1.96 * d.a_stderr;
    d.a.is_finite().then_some(Estimate {
        value: d.a,
        low: d.a - half,
        high: d.a + half,
    })
}

const ZERO: Estimate = Estimate {
    value: 0.0,
    low: 0.0,
    high: 0.0,
};

/// Builds one comparison from a per-seed lookup of (A, B); `None` when a seed lacks either.
fn compare(
    seeds: &[Seed],
    label: String,
    lookup: impl Fn(&Seed) -> Option<(Estimate, Estimate)>,
) -> Option<Comparison> {
    let pairs: Option<Vec<_>> = seeds.iter().map(lookup).collect();
    let pairs = pairs?;
    let verdict = verdict(&pairs);
    Some(Comparison {
        label,
        pairs,
        verdict,
    })
}

fn kinds() -> impl Iterator<Item = &'static str> {
    ProbeKind::ALL.iter().map(|k| k.as_str())
}

const SCENARIOS: [&str; 3] = ["paraphrase", "duplicate", "once"];

fn findings(seeds: &[Seed], runs: &Runs, metric: Metric) -> Vec<Finding> {
    let e = |seed: &Seed, run: &str, scenario: &str, kind: &str| {
        effectivity(seed, metric, run, scenario, kind)
    };
    let mid = runs.mid.as_str();
    let mut f1 = Vec::new();
    for kind in kinds() {
        for other in ["duplicate", "paraphrase"] {
            f1.extend(compare(seeds, format!("{kind}: once > {other}"), |s| {
                Some((e(s, mid, "once", kind)?, e(s, mid, other, kind)?))
            }));
        }
    }
    let mut f2 = Vec::new();
    let mut f3 = Vec::new();
    let mut f5 = Vec::new();
    for scenario in SCENARIOS {
        for kind in kinds() {
            f2.extend(compare(
                seeds,
                format!("{scenario} {kind}: {} > {}", runs.late, runs.early),
                |s| {
                    Some((
                        e(s, &runs.late, scenario, kind)?,
                        e(s, &runs.early, scenario, kind)?,
                    ))
                },
            ));
            f3.extend(compare(
                seeds,
                format!("{scenario} {kind}: {} > {mid}", runs.large),
                |s| {
                    Some((
                        e(s, &runs.large, scenario, kind)?,
                        e(s, mid, scenario, kind)?,
                    ))
                },
            ));
            f5.extend(compare(seeds, format!("{scenario} {kind}: > 0"), |s| {
                Some((e(s, mid, scenario, kind)?, ZERO))
            }));
        }
    }
    let mut f4 = Vec::new();
    for scenario in SCENARIOS {
        for (a, b) in [("memorization", "semantic"), ("semantic", "composition")] {
            f4.extend(compare(seeds, format!("{scenario}: {a} > {b}"), |s| {
                Some((e(s, mid, scenario, a)?, e(s, mid, scenario, b)?))
            }));
        }
    }
    let mut t1 = Vec::new();
    for scenario in ["duplicate", "paraphrase"] {
        for kind in ["memorization", "semantic"] {
            t1.extend(compare(
                seeds,
                format!("{scenario}: a_{kind} > a_composition"),
                |s| {
                    Some((
                        decay(s, mid, scenario, kind)?,
                        decay(s, mid, scenario, "composition")?,
                    ))
                },
            ));
        }
    }
    let mut t2 = Vec::new();
    for kind in kinds() {
        t2.extend(compare(
            seeds,
            format!("{kind}: a_duplicate > a_paraphrase"),
            |s| {
                Some((
                    decay(s, mid, "duplicate", kind)?,
                    decay(s, mid, "paraphrase", kind)?,
                ))
            },
        ));
    }
    let finding = |id, claim, null, comparisons| Finding {
        id,
        claim,
        null,
        comparisons,
    };
    vec![
        finding("F1", "\"once\" has the largest effectivity", false, f1),
        finding(
            "F2",
            "more pretraining does not raise effectivity (null: holds unless late > early is yes)",
            true,
            f2,
        ),
        finding("F3", "the larger model is higher", false, f3),
        finding("F4", "memorization > semantic > composition", false, f4),
        finding("F5", "the rise is specific to the injected fact", false, f5),
        finding("T1", "composition decays slowest", false, t1),
        finding("T2", "paraphrase decays slower than duplication", false, t2),
    ]
}

fn estimate_text(e: &Estimate) -> String {
    format!("{:.3} [{:.3}, {:.3}]", e.value, e.low, e.high)
}

/// The verdict tables as Markdown: one summary line per finding, then every comparison.
pub fn report(seeds: &[Seed], runs: &Runs, metric: Metric) -> Result<String> {
    if seeds.is_empty() {
        bail!("no seeds given");
    }
    let findings = findings(seeds, runs, metric);
    let metric_name = match metric {
        Metric::Net => "net effectivity (E − E_control)",
        Metric::Raw => "raw effectivity (control not subtracted)",
        Metric::FirstToken => "net effectivity on the first target token",
    };
    let mut md = format!(
        "# Findings of Chang et al. 2024 Figure 3 and Table 2\n\n{} seed(s); effectivity is {metric_name}; decay constants a ± 1.96 s.e. Rule (docs/fidelity.md): **yes** = A > B in every seed with disjoint 95 % intervals in at least half; **direction** = A > B in every seed; **opposite** = B > A in every seed with disjoint intervals in at least half; **no** = otherwise. A finding is reproduced when ≥ 2/3 of its comparisons are yes.\n\n| id | finding | outcome | yes | direction | no | opposite |\n|---|---|---|---:|---:|---:|---:|\n",
        seeds.len()
    );
    for f in &findings {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            f.id,
            f.claim,
            f.outcome(),
            f.count(Verdict::Yes),
            f.count(Verdict::Direction),
            f.count(Verdict::No),
            f.count(Verdict::Opposite)
        );
    }
    let _ = writeln!(
        md,
        "\n## Every comparison\n\nA and B per seed: value [95 % interval].\n\n| id | comparison | verdict | A per seed | B per seed |\n|---|---|---|---|---|"
    );
    for f in &findings {
        for c in &f.comparisons {
            let side = |pick: fn(&(Estimate, Estimate)) -> &Estimate| {
                c.pairs
                    .iter()
                    .map(|p| estimate_text(pick(p)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                f.id,
                c.label,
                c.verdict.label(),
                side(|p| &p.0),
                side(|p| &p.1)
            );
        }
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: f64, half: f64) -> Estimate {
        Estimate {
            value,
            low: value - half,
            high: value + half,
        }
    }

    #[test]
    fn the_rule_needs_every_seed_and_half_of_them_apart() {
        let apart = (at(1.0, 0.1), at(0.5, 0.1));
        let close = (at(1.0, 0.4), at(0.5, 0.4));
        let flipped = (at(0.5, 0.1), at(1.0, 0.1));
        assert_eq!(verdict(&[apart, close, apart]), Verdict::Yes);
        assert_eq!(verdict(&[apart, close, close]), Verdict::Direction);
        assert_eq!(verdict(&[apart, flipped, apart]), Verdict::No);
        assert_eq!(verdict(&[flipped, flipped]), Verdict::Opposite);
        assert_eq!(verdict(&[apart]), Verdict::Yes);
        assert_eq!(verdict(&[close]), Verdict::Direction);
    }
}
