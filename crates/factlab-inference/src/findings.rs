//! Verdicts on the findings of Chang et al. 2024 Figure 3 and Table 2, from `fit`'s tables and
//! draws of one or more seeds, by the rule of [`crate::rule`] (written down in
//! `docs/fidelity.md`). The manipulation checks, that the rise is specific to the injected
//! paragraph and to its fact, are not findings of the paper: they go to a table of their own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use factlab_artifacts::{DecayRow, DrawRow, EffectivityRow, ProbeKind};
use factlab_rng::Rng;

use crate::rule::{
    judge_equivalence, judge_ordering, Judged, Outcome, Verdict, EQUIVALENCE_LEVEL,
    EQUIVALENCE_MARGIN, LEVEL,
};
use crate::{across_seeds, Resampled};

/// Which effectivity value the comparisons use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// E − E_control, mean over target tokens.
    Net,
    /// E, mean over target tokens, control not subtracted.
    Raw,
    /// E − E_control on the first target token.
    FirstToken,
}

impl Metric {
    fn describe(self) -> &'static str {
        match self {
            Metric::Net => "net effectivity (E − E_control)",
            Metric::Raw => "raw effectivity (control not subtracted)",
            Metric::FirstToken => "net effectivity on the first target token",
        }
    }
}

/// The runs the findings compare, named as in the Makefile.
#[derive(Clone, Debug)]
pub struct Runs {
    pub early: String,
    pub mid: String,
    pub late: String,
    pub large: String,
}

type Key = (String, String, String);

/// One seed's tables, with its draws by group in draw order.
pub struct Seed {
    effectivity: Vec<EffectivityRow>,
    decay: Vec<DecayRow>,
    draws: BTreeMap<Key, Vec<DrawRow>>,
}

impl Seed {
    /// Refuses draws that one fit cannot have written: every group's draws must be the same
    /// resamples 0..n, or a difference taken draw by draw would not be paired.
    pub fn new(
        effectivity: Vec<EffectivityRow>,
        decay: Vec<DecayRow>,
        draws: Vec<DrawRow>,
    ) -> Result<Self, String> {
        let mut by_group: BTreeMap<Key, Vec<DrawRow>> = BTreeMap::new();
        for d in draws {
            let key = (d.run_id.clone(), d.scenario.clone(), d.kind.clone());
            by_group.entry(key).or_default().push(d);
        }
        let mut count = None;
        for ((run, scenario, kind), rows) in &mut by_group {
            rows.sort_by_key(|d| d.draw);
            let numbered = rows.iter().enumerate().all(|(i, d)| d.draw as usize == i);
            if !numbered || count.is_some_and(|n| n != rows.len()) {
                return Err(format!(
                    "column `draw`: group {run} / {scenario} / {kind} has draws {}..{} ({} rows) where the groups before it have {}; every group of one fit holds the same draws 0..n − 1 once each",
                    rows[0].draw,
                    rows[rows.len() - 1].draw,
                    rows.len(),
                    count.map_or_else(|| "none".to_string(), |n: usize| format!("0..{}", n - 1)),
                ));
            }
            count = Some(rows.len());
        }
        Ok(Seed {
            effectivity,
            decay,
            draws: by_group,
        })
    }

    fn group_draws(&self, run: &str, scenario: &str, kind: &str) -> Option<&[DrawRow]> {
        let key = (run.to_string(), scenario.to_string(), kind.to_string());
        self.draws.get(&key).map(Vec::as_slice)
    }

    fn effectivity(
        &self,
        metric: Metric,
        run: &str,
        scenario: &str,
        kind: &str,
    ) -> Option<Resampled> {
        let r = self
            .effectivity
            .iter()
            .find(|r| r.run_id == run && r.scenario == scenario && r.kind == kind)?;
        let point = match metric {
            Metric::Net => r.net_mean,
            Metric::Raw => r.mean,
            Metric::FirstToken => r.first_token_net_mean,
        };
        let draws: Option<Vec<f64>> = self
            .group_draws(run, scenario, kind)?
            .iter()
            .map(|d| match metric {
                Metric::Net => d.net,
                Metric::Raw => Some(d.effectivity),
                Metric::FirstToken => d.first_token_net,
            })
            .collect();
        point.is_finite().then_some(Resampled::new(point, draws?))
    }

    /// The net specificity gain (ℓ(true) − ℓ(foil), net of the control's), where foils were
    /// scored.
    fn specificity(&self, run: &str, scenario: &str, kind: &str) -> Option<Resampled> {
        let r = self
            .effectivity
            .iter()
            .find(|r| r.run_id == run && r.scenario == scenario && r.kind == kind)?;
        let draws: Option<Vec<f64>> = self
            .group_draws(run, scenario, kind)?
            .iter()
            .map(|d| d.specificity_net)
            .collect();
        Some(Resampled::new(r.specificity_net_mean?, draws?))
    }

    fn decay(&self, run: &str, scenario: &str, kind: &str) -> Option<Resampled> {
        let d = self
            .decay
            .iter()
            .find(|d| d.run_id == run && d.scenario == scenario && d.kind == kind)?;
        let draws: Option<Vec<f64>> = self
            .group_draws(run, scenario, kind)?
            .iter()
            .map(|d| d.decay_a)
            .collect();
        d.a.is_finite().then_some(Resampled::new(d.a, draws?))
    }
}

/// Resamples of the seed level when several seeds are combined.
const SEED_RESAMPLES: usize = 2000;

/// One comparison A > B: each seed's A and B, and A − B over seeds.
struct Comparison {
    label: String,
    per_seed: Vec<(Resampled, Resampled)>,
    difference: Resampled,
}

/// Every comparison's seeds are combined with the same picks (one stream, restarted), so the
/// pooled mean of a finding's differences is itself a combination of seeds, paired with them.
fn combine(per_seed: &[Resampled]) -> Resampled {
    across_seeds(per_seed, SEED_RESAMPLES, &mut Rng::derive(0x5345_4544, &[]))
}

fn comparison(
    seeds: &[Seed],
    label: String,
    lookup: impl Fn(&Seed) -> Option<(Resampled, Resampled)>,
) -> Option<Comparison> {
    let per_seed: Option<Vec<_>> = seeds.iter().map(lookup).collect();
    let per_seed = per_seed?;
    let differences: Vec<Resampled> = per_seed.iter().map(|(a, b)| a.minus(b)).collect();
    Some(Comparison {
        label,
        difference: combine(&differences),
        per_seed,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Test {
    /// A > B in the paper.
    Ordering,
    /// A does not rise above B in the paper.
    NoRise,
}

struct Finding {
    id: &'static str,
    claim: &'static str,
    test: Test,
    comparisons: Vec<Comparison>,
}

impl Finding {
    /// `None` when no comparison could be measured.
    fn judge(&self) -> Option<Judged> {
        if self.comparisons.is_empty() {
            return None;
        }
        let differences: Vec<Resampled> = self
            .comparisons
            .iter()
            .map(|c| c.difference.clone())
            .collect();
        Some(match self.test {
            Test::Ordering => judge_ordering(&differences),
            Test::NoRise => {
                let earlier = self
                    .comparisons
                    .iter()
                    .flat_map(|c| c.per_seed.iter().map(|(_, b)| b.point))
                    .collect::<Vec<_>>();
                let reference = earlier.iter().sum::<f64>() / earlier.len() as f64;
                judge_equivalence(&differences, reference)
            }
        })
    }
}

fn kinds() -> impl Iterator<Item = &'static str> {
    ProbeKind::ALL.iter().map(|k| k.as_str())
}

const SCENARIOS: [&str; 3] = ["paraphrase", "duplicate", "once"];

/// The paper's findings (F1–F4, T1, T2) and the manipulation checks (C1, C2), each with its
/// comparisons.
fn findings(seeds: &[Seed], runs: &Runs, metric: Metric) -> (Vec<Finding>, Vec<Finding>) {
    let e = |seed: &Seed, run: &str, scenario: &str, kind: &str| {
        seed.effectivity(metric, run, scenario, kind)
    };
    let mid = runs.mid.as_str();
    let mut f1 = Vec::new();
    for kind in kinds() {
        for other in ["duplicate", "paraphrase"] {
            f1.extend(comparison(seeds, format!("{kind}: once > {other}"), |s| {
                Some((e(s, mid, "once", kind)?, e(s, mid, other, kind)?))
            }));
        }
    }
    let (mut f2, mut f3, mut c1, mut c2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for scenario in SCENARIOS {
        for kind in kinds() {
            f2.extend(comparison(
                seeds,
                format!("{scenario} {kind}: {} − {}", runs.late, runs.early),
                |s| {
                    Some((
                        e(s, &runs.late, scenario, kind)?,
                        e(s, &runs.early, scenario, kind)?,
                    ))
                },
            ));
            f3.extend(comparison(
                seeds,
                format!("{scenario} {kind}: {} > {mid}", runs.large),
                |s| {
                    Some((
                        e(s, &runs.large, scenario, kind)?,
                        e(s, mid, scenario, kind)?,
                    ))
                },
            ));
            // Always net of the control, whatever the metric: that is what it checks.
            c1.extend(comparison(
                seeds,
                format!("{scenario} {kind}: E > E_control"),
                |s| {
                    let net = s.effectivity(Metric::Net, mid, scenario, kind)?;
                    let zero = Resampled::exact(0.0, net.draws.len());
                    Some((net, zero))
                },
            ));
            c2.extend(comparison(
                seeds,
                format!("{scenario} {kind}: ℓ(true) − ℓ(foil) rises"),
                |s| {
                    let gain = s.specificity(mid, scenario, kind)?;
                    let zero = Resampled::exact(0.0, gain.draws.len());
                    Some((gain, zero))
                },
            ));
        }
    }
    let mut f4 = Vec::new();
    for scenario in SCENARIOS {
        for (a, b) in [("memorization", "semantic"), ("semantic", "composition")] {
            f4.extend(comparison(seeds, format!("{scenario}: {a} > {b}"), |s| {
                Some((e(s, mid, scenario, a)?, e(s, mid, scenario, b)?))
            }));
        }
    }
    let mut t1 = Vec::new();
    for scenario in ["duplicate", "paraphrase"] {
        for kind in ["memorization", "semantic"] {
            // Slower decay is a smaller a: composition slowest means a_kind > a_composition.
            t1.extend(comparison(
                seeds,
                format!("{scenario}: a_{kind} > a_composition"),
                |s| {
                    Some((
                        s.decay(mid, scenario, kind)?,
                        s.decay(mid, scenario, "composition")?,
                    ))
                },
            ));
        }
    }
    let mut t2 = Vec::new();
    for kind in kinds() {
        t2.extend(comparison(
            seeds,
            format!("{kind}: a_duplicate > a_paraphrase"),
            |s| {
                Some((
                    s.decay(mid, "duplicate", kind)?,
                    s.decay(mid, "paraphrase", kind)?,
                ))
            },
        ));
    }
    let finding = |id, claim, test, comparisons| Finding {
        id,
        claim,
        test,
        comparisons,
    };
    let paper = vec![
        finding(
            "F1",
            "\"once\" has the largest effectivity",
            Test::Ordering,
            f1,
        ),
        finding(
            "F2",
            "more pretraining does not raise effectivity (late − early)",
            Test::NoRise,
            f2,
        ),
        finding("F3", "the larger model is higher", Test::Ordering, f3),
        finding(
            "F4",
            "memorization > semantic > composition",
            Test::Ordering,
            f4,
        ),
        finding("T1", "composition decays slowest", Test::Ordering, t1),
        finding(
            "T2",
            "paraphrase decays slower than duplication",
            Test::Ordering,
            t2,
        ),
    ];
    let checks = vec![
        finding(
            "C1",
            "the rise is specific to the injected paragraph (net effectivity > 0: injected paragraphs against never-injected ones at the same steps)",
            Test::Ordering,
            c1,
        ),
        finding(
            "C2",
            "the rise is specific to the injected fact (the gain of ℓ(true) − ℓ(foil), net of the control's, > 0; foil: another paragraph's target of the same kind and length)",
            Test::Ordering,
            c2,
        ),
    ];
    (paper, checks)
}

/// Each finding's id and outcome (`None`: not measured): what the calibration counts.
pub fn outcomes(
    seeds: &[Seed],
    runs: &Runs,
    metric: Metric,
) -> Vec<(&'static str, Option<Outcome>)> {
    let (paper, checks) = findings(seeds, runs, metric);
    paper
        .iter()
        .chain(&checks)
        .map(|f| (f.id, f.judge().map(|j| j.outcome)))
        .collect()
}

fn estimate_text(e: &Resampled, level: f64) -> String {
    let (low, high) = e.interval(level);
    format!("{:.3} [{:.3}, {:.3}]", e.point, low, high)
}

fn summary_line(md: &mut String, f: &Finding) {
    let Some(judged) = f.judge() else {
        let _ = writeln!(
            md,
            "| {} | {} | not measured (missing runs or rows) | | | | | | |",
            f.id, f.claim
        );
        return;
    };
    let n = f.comparisons.len();
    let pooled_mde = judged.pooled.minimum_detectable_effect();
    match f.test {
        Test::Ordering => {
            let _ = writeln!(
                md,
                "| {} | {} | **{}** | {} | {:.3} | {} of {n} | {} | {} | {} |",
                f.id,
                f.claim,
                judged.outcome.label(),
                estimate_text(&judged.pooled, LEVEL),
                pooled_mde,
                judged.count(Verdict::Yes),
                judged.count(Verdict::Direction),
                judged.count(Verdict::No),
                judged.count(Verdict::Opposite),
            );
        }
        Test::NoRise => {
            let margin = judged.margin.unwrap_or(f64::NAN);
            let _ = writeln!(
                md,
                "| {} | {} | **{}** | {} (90 %), δ = {margin:.3} | {:.3} | {} of {n} within ±δ | {} rise | {} inconclusive | |",
                f.id,
                f.claim,
                judged.outcome.label(),
                estimate_text(&judged.pooled, EQUIVALENCE_LEVEL),
                pooled_mde,
                judged.count(Verdict::Within),
                judged.count(Verdict::Rise),
                judged.count(Verdict::Inconclusive),
            );
        }
    }
}

fn comparison_lines(md: &mut String, f: &Finding) {
    let Some(judged) = f.judge() else {
        return;
    };
    for (c, verdict) in f.comparisons.iter().zip(&judged.verdicts) {
        let side = |pick: fn(&(Resampled, Resampled)) -> &Resampled| {
            c.per_seed
                .iter()
                .map(|p| estimate_text(pick(p), LEVEL))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let level = if f.test == Test::NoRise {
            EQUIVALENCE_LEVEL
        } else {
            LEVEL
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {} | {} |",
            f.id,
            c.label,
            verdict.label(),
            estimate_text(&c.difference, level),
            c.difference.minimum_detectable_effect(),
            side(|p| &p.0),
            side(|p| &p.1)
        );
    }
}

const SUMMARY_HEADER: &str = "| id | finding | outcome | pooled A − B [interval] | MDE | yes | direction | no | opposite |\n|---|---|---|---|---:|---|---:|---:|---:|";

/// The verdict tables as Markdown: the findings, the checks, then every comparison.
pub fn report(seeds: &[Seed], runs: &Runs, metric: Metric) -> String {
    let (paper, checks) = findings(seeds, runs, metric);
    let mut md = format!(
        "# Findings of Chang et al. 2024 Figure 3 and Table 2\n\n{} seed(s); effectivity is {}. Intervals: paragraph bootstrap within each seed (`fit --help`), seeds resampled first when there are several. Rule (docs/fidelity.md, calibrated by simulation): a comparison A > B is **yes** when the 95 % interval of A − B (paired draws) lies above 0, **opposite** below, **direction** when only its point does. A finding is judged on its pooled difference, the mean of its comparisons' A − B: **reproduced** when its 95 % interval lies above 0 and at least two thirds of the comparisons are yes, **partly** when it lies above 0, **opposite** below, **not shown** otherwise. F2, a claim of no rise, is an equivalence test: **reproduced** when the 90 % interval of the pooled late − early lies inside ±δ, δ = {} × the pooled early value, **not reproduced** when its 95 % interval lies above 0, **inconclusive** otherwise. MDE: the smallest true pooled difference the run detects with 80 % power at a two-sided 5 % level (2.8 × its bootstrap standard error).\n\n{SUMMARY_HEADER}\n",
        seeds.len(),
        metric.describe(),
        EQUIVALENCE_MARGIN
    );
    for f in &paper {
        summary_line(&mut md, f);
    }
    let _ = writeln!(
        md,
        "\n## Checks of the design (not findings of the paper)\n\n{SUMMARY_HEADER}"
    );
    for f in &checks {
        summary_line(&mut md, f);
    }
    let _ = writeln!(
        md,
        "\n## Every comparison\n\nA − B over seeds (95 % interval; F2: 90 %), its MDE, then A and B per seed: value [95 % interval].\n\n| id | comparison | verdict | A − B | MDE | A per seed | B per seed |\n|---|---|---|---|---:|---|---|"
    );
    for f in paper.iter().chain(&checks) {
        comparison_lines(&mut md, f);
    }
    md
}
