//! The decision rule calibrated by simulation: runs built with the design's structure (paragraphs
//! whose probes share a gain and a noise, injections spread over steps, a window maximum over
//! noisy evaluations, a never-injected control, four runs continued from the same paragraphs),
//! once with no true effect and once with each finding's effect planted, fitted by `fit` and
//! judged by `plot findings`' rule. No verdict may claim a finding on null data more than 5 % of
//! the time. Also: the paragraph bootstrap's interval covers a known mean as often as it says,
//! and a bootstrap over probes does not.

use factlab_artifacts::{Injection, LogprobRow, ProbeKind};
use factlab_inference::findings::{self, Metric, Runs, Seed};
use factlab_inference::rule::Outcome;
use factlab_rng::Rng;
use fit::{fit_rows, Analysis, FitOptions};

use crate::common::{injection, Score};

const PARAGRAPHS: u32 = 8;
const PROBES_PER_KIND: u32 = 5;
const SCENARIOS: [&str; 3] = ["paraphrase", "duplicate", "once"];
const RUNS: [&str; 4] = ["small-early", "small-mid", "small-late", "large-mid"];
const KINDS: [ProbeKind; 3] = ProbeKind::ALL;
/// Steps between exposures, the window, the last step.
const DELTA: u32 = 12;
const WINDOW: u32 = 6;
const LAST_STEP: u32 = 60;

/// The true effects of one simulated run set.
#[derive(Clone, Copy)]
struct Truth {
    /// Mean specific gain of an injection.
    gain: f64,
    /// Added to `gain` for the once scenario (F1), the large run (F3), the late run (F2, as a
    /// share of the gain), per kind (F4: memorization +, composition −).
    once: f64,
    large: f64,
    late_share: f64,
    kind_step: f64,
    /// Decay per decade of steps, and what composition (T1) and paraphrase (T2) take off it.
    decay: f64,
    slower_composition: f64,
    slower_paraphrase: f64,
}

const NULL: Truth = Truth {
    gain: 0.08,
    once: 0.0,
    large: 0.0,
    late_share: 0.0,
    kind_step: 0.0,
    decay: 0.3,
    slower_composition: 0.0,
    slower_paraphrase: 0.0,
};

fn kind_index(kind: ProbeKind) -> usize {
    KINDS.iter().position(|&k| k == kind).unwrap()
}

/// Injections: each scenario's 8 paragraphs spread over 8 consecutive steps, paraphrase and
/// duplicate exposed three times Δ apart, once once; paragraphs 24..32 are the control.
fn injections() -> Vec<Injection> {
    let mut out = Vec::new();
    for (s, scenario) in SCENARIOS.iter().enumerate() {
        for p in 0..PARAGRAPHS {
            let knowledge_id = s as u32 * PARAGRAPHS + p;
            let exposures = if *scenario == "once" { 1 } else { 3 };
            for exposure in 0..exposures {
                out.push(injection(
                    knowledge_id,
                    scenario,
                    exposure,
                    p + exposure * DELTA,
                ));
            }
        }
    }
    out
}

/// One seed's logprob rows under `truth`.
fn simulate(truth: Truth, seed: u64, injections: &[Injection]) -> Vec<LogprobRow> {
    let mut rng = Rng::new(seed);
    let paragraphs = PARAGRAPHS * 4;
    // A paragraph's own share of its gain, shared by its runs and kinds (it is the same text).
    let paragraph_effect: Vec<f64> = (0..paragraphs).map(|_| rng.normal()).collect();
    let mut rows = Vec::new();
    for run in RUNS {
        for k in 0..paragraphs {
            let scenario = SCENARIOS.get((k / PARAGRAPHS) as usize).copied();
            let steps: Vec<u32> = injections
                .iter()
                .filter(|i| i.knowledge_id == k)
                .map(|i| i.step)
                .collect();
            let run_effect = rng.normal();
            for kind in KINDS {
                let mut mean = truth.gain;
                if scenario == Some("once") {
                    mean += truth.once;
                }
                if run == "large-mid" {
                    mean += truth.large;
                }
                if run == "small-late" {
                    mean += truth.late_share * truth.gain;
                }
                mean += truth.kind_step * (1.0 - kind_index(kind) as f64);
                let mut decay = truth.decay;
                if kind == ProbeKind::Composition {
                    decay -= truth.slower_composition;
                }
                if scenario == Some("paraphrase") {
                    decay -= truth.slower_paraphrase;
                }
                // Paragraph-level spread of the gain: as large as the effects themselves.
                let paragraph_gain =
                    mean + 0.05 * (0.7 * paragraph_effect[k as usize] + 0.7 * run_effect);
                for q in 0..PROBES_PER_KIND {
                    let probe_id = (k * 3 + kind_index(kind) as u32) * PROBES_PER_KIND + q;
                    let gain = paragraph_gain + 0.03 * rng.normal();
                    let base = -5.0 + 0.5 * rng.normal();
                    for step in 0..=LAST_STEP {
                        // Training lifts every probe, injected or not: the control's rise.
                        let drift = 0.3 * (1.0 - (-f64::from(step) / 15.0).exp());
                        let mut specific = 0.0;
                        for &t in steps.iter().filter(|&&t| t < step) {
                            let since = f64::from(step - t);
                            let ramp = (since / 3.0).min(1.0);
                            let kept = 1.0 - decay * (since - 2.0).max(1.0).log10();
                            specific += gain * ramp * kept.max(0.0);
                        }
                        let noise = 0.05 * rng.normal();
                        rows.push(
                            Score {
                                run_id: run,
                                step,
                                probe_id,
                                knowledge_id: k,
                                kind,
                                target: base + drift + specific + noise,
                                first_token: base + drift + specific + 2.0 * noise,
                            }
                            .row(),
                        );
                    }
                }
            }
        }
    }
    rows
}

fn options(seed: u64, draws: usize) -> FitOptions {
    FitOptions {
        logprobs: vec![],
        injections: "simulated-injections.parquet".into(),
        window: WINDOW,
        iqr_factor: 1.5,
        analysis: Analysis::Factlab,
        bootstrap: draws,
        seed,
        tokens_per_step: 1.0,
        step_offset: 0,
        output: "unused".into(),
    }
}

fn runs() -> Runs {
    Runs {
        early: RUNS[0].into(),
        mid: RUNS[1].into(),
        late: RUNS[2].into(),
        large: RUNS[3].into(),
    }
}

/// Each finding's outcome on `repeats` simulated single-seed run sets.
fn outcomes(truth: Truth, repeats: u64, stream: u64) -> Vec<Vec<(&'static str, Option<Outcome>)>> {
    let injections = injections();
    let repeat = |r: u64| {
        let rows = simulate(truth, stream * 1_000_003 + r, &injections);
        let fitted = fit_rows(&rows, &injections, &options(r, 200)).unwrap();
        let seed = Seed::new(fitted.effectivity, fitted.decay, fitted.draws).unwrap();
        findings::outcomes(&[seed], &runs(), Metric::Net)
    };
    // Two threads, one per core: each repeat is independent and seeded by its index.
    std::thread::scope(|scope| {
        let halves: Vec<_> = (0..2)
            .map(|half| {
                let repeat = &repeat;
                scope.spawn(move || {
                    (0..repeats)
                        .filter(|r| r % 2 == half)
                        .map(repeat)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<_> = halves.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all
    })
}

/// The share of repeats in which finding `id` claimed its finding.
fn claim_rate(results: &[Vec<(&'static str, Option<Outcome>)>], id: &str) -> f64 {
    let claimed = results
        .iter()
        .filter(|r| {
            let outcome = r.iter().find(|(f, _)| *f == id).unwrap().1;
            outcome.is_some_and(Outcome::claims)
        })
        .count();
    claimed as f64 / results.len() as f64
}

#[test]
fn no_verdict_claims_a_finding_on_null_data_more_than_5_percent_of_the_time() {
    const REPEATS: u64 = 100;
    let started = std::time::Instant::now();
    let null = outcomes(NULL, REPEATS, 1);
    let nothing_specific = outcomes(Truth { gain: 0.0, ..NULL }, REPEATS, 2);
    // F2 claims "no rise": its null is a rise of exactly δ (a quarter of the early gain).
    let rise_of_delta = outcomes(
        Truth {
            late_share: 0.25,
            ..NULL
        },
        REPEATS,
        3,
    );
    let planted = outcomes(
        Truth {
            once: 0.08,
            large: 0.08,
            kind_step: 0.04,
            slower_composition: 0.15,
            slower_paraphrase: 0.15,
            ..NULL
        },
        REPEATS,
        4,
    );
    let mut table = String::from(
        "| verdict | null data | false-positive rate | power on the planted effect |\n|---|---|---:|---:|\n",
    );
    let mut failures = Vec::new();
    for (id, null_runs, null_name, power_runs) in [
        ("F1", &null, "equal scenarios", &planted),
        ("F2", &rise_of_delta, "late = early + δ", &null),
        ("F3", &null, "equal sizes", &planted),
        ("F4", &null, "equal kinds", &planted),
        ("T1", &null, "equal decay", &planted),
        ("T2", &null, "equal decay", &planted),
        ("C1", &nothing_specific, "no specific gain", &null),
    ] {
        let false_positives = claim_rate(null_runs, id);
        let power = claim_rate(power_runs, id);
        table.push_str(&format!(
            "| {id} | {null_name} | {:.0} % | {:.0} % |\n",
            100.0 * false_positives,
            100.0 * power
        ));
        if false_positives > 0.05 {
            failures.push(id);
        }
    }
    println!(
        "{REPEATS} simulated single-seed runs per condition ({:.0} s)\n{table}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "these verdicts pass noise more than 5 % of the time: {failures:?}\n{table}"
    );
    // The planted effects must be detectable at all, or the check above would be empty.
    assert!(claim_rate(&null, "C1") > 0.5, "{table}");
    assert!(claim_rate(&planted, "F4") > 0.3, "{table}");
}

/// Every probe's gain is its paragraph's plus its own, exactly (ℓ steps up once and stays):
/// effectivity's true mean is `TRUE_MEAN`.
fn known_variance_rows(seed: u64, paragraphs: u32) -> (Vec<LogprobRow>, Vec<Injection>, Vec<f64>) {
    const TRUE_MEAN: f64 = 0.1;
    let mut rng = Rng::new(seed);
    let mut rows = Vec::new();
    let mut injections = Vec::new();
    let mut gains = Vec::new();
    for k in 0..paragraphs {
        injections.push(injection(k, "once", 0, 0));
        let paragraph = TRUE_MEAN + 0.1 * rng.normal();
        for q in 0..PROBES_PER_KIND {
            let gain = paragraph + 0.03 * rng.normal();
            gains.push(gain);
            for step in 0..=3 {
                rows.push(
                    Score {
                        run_id: "mid",
                        step,
                        probe_id: k * PROBES_PER_KIND + q,
                        knowledge_id: k,
                        kind: ProbeKind::Memorization,
                        target: -5.0 + if step > 0 { gain } else { 0.0 },
                        first_token: -5.0,
                    }
                    .row(),
                );
            }
        }
    }
    (rows, injections, gains)
}

/// The 95 % percentile interval of the mean when probes are resampled as if independent.
fn probe_bootstrap(gains: &[f64], rng: &mut Rng) -> (f64, f64) {
    let mut means: Vec<f64> = (0..1000)
        .map(|_| {
            (0..gains.len())
                .map(|_| gains[rng.below(gains.len())])
                .sum::<f64>()
                / gains.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    (
        factlab_inference::quantile(&means, 0.025),
        factlab_inference::quantile(&means, 0.975),
    )
}

#[test]
fn the_paragraph_bootstrap_covers_the_true_mean_as_often_as_it_says() {
    const REPEATS: u64 = 1000;
    const TRUE_MEAN: f64 = 0.1;
    let mut covered = [0u32; 2];
    let mut rng = Rng::new(99);
    for r in 0..REPEATS {
        let (rows, injections, gains) = known_variance_rows(r, PARAGRAPHS);
        let mut opts = options(r, 1000);
        opts.window = 3;
        let fitted = fit_rows(&rows, &injections, &opts).unwrap();
        let e = &fitted.effectivity[0];
        assert_eq!(e.probes, PARAGRAPHS * PROBES_PER_KIND);
        if e.ci_low <= TRUE_MEAN && TRUE_MEAN <= e.ci_high {
            covered[0] += 1;
        }
        let (low, high) = probe_bootstrap(&gains, &mut rng);
        if low <= TRUE_MEAN && TRUE_MEAN <= high {
            covered[1] += 1;
        }
    }
    let [paragraph, probe] = covered.map(|c| f64::from(c) / REPEATS as f64);
    println!(
        "95 % intervals over {PARAGRAPHS} paragraphs × {PROBES_PER_KIND} probes, {REPEATS} repeats: paragraph bootstrap covers {:.1} %, probe bootstrap {:.1} %",
        100.0 * paragraph,
        100.0 * probe
    );
    assert!(
        (0.93..=0.97).contains(&paragraph),
        "paragraph bootstrap covers {paragraph}"
    );
    assert!(probe < 0.90, "probe bootstrap covers {probe}");
}
