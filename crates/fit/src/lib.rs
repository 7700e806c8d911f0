//! `fit`: the metrics of Chang et al. 2024 §4 from `logprobs.parquet` and `injections.parquet`.
//!
//! Notation as in the paper: v[t] = ℓ(q; θ_t) is a probe's score with the weights *before* the
//! update of step t, and paragraph k is injected at steps t₁ < … < t_n.
//! - local acquisition maximum after injection i: the step in t_i+1 ..= t_i+t_w with the highest v;
//! - effectivity E(q, i) = v[t_LAM] − v[t_i];
//! - retainability R(q, t) = (v[t_LAM(N) + t] − v[t_pre]) / (v[t_LAM(N)] − v[t_pre]) after the
//!   last injection N, with t_pre = t₁; probes whose gain is zero are skipped;
//! - decay constant a = −slope of mean R against log10 t (t ≥ 1), by least squares.
//!
//! Probes of paragraphs that were never injected are the control: their pseudo-effectivity at
//! each scenario's injection steps is the rise that is not specific to the fact, and the net
//! effectivity is E − E_control ([`effectivity`]).
//!
//! The joins and group-bys are polars lazy queries ([`tables`]); the per-probe window scans, the
//! bootstrap and the decay fit are plain Rust over each probe's series.

mod choice_accuracy;
mod effectivity;
mod linear_probe;
mod report;
mod resampling;
mod retention;
mod specificity;
mod stats;
mod tables;
mod window_bias;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use factlab_artifacts::outputs::{check_made_from, check_same_origin};
use factlab_artifacts::{
    read_rows, write_atomic, write_rows, Artifact, DecayRow, DrawRow, EffectivityRow, Injection,
    Knowledge, LogprobRow, RetentionRow, ShardManifest, TrajectoryRow,
};
use resampling::{ParagraphDraws, CONTROL};

pub use choice_accuracy::{
    run_choice_accuracy, ChoiceAccuracyOptions, CHOICE_ACCURACY_FILE, CHOICE_ACCURACY_TABLE,
};
pub use linear_probe::{
    run_linear_probes, LinearProbeOptions, LINEAR_PROBE_FILE, LINEAR_PROBE_TABLE,
};
pub use report::summary;
use tables::Schedules;
pub use window_bias::WindowBias;

/// The bounds of `fit`'s numbers, shared by its flags and [`FitOptions::check`].
pub mod bounds {
    use factlab_cli::{finite_f64_in, int_in, positive_steps, FloatRange, IntRange};

    /// t_w: 1 to [`factlab_cli::MAX_STEPS`] steps (0 would be an empty window).
    pub fn window() -> IntRange<u32> {
        positive_steps()
    }

    /// Resamples: a 95 % interval needs enough of them for its 2.5 % tails; draws.parquet
    /// holds a row per group and draw, and every draw refits every decay line, so 100,000 is
    /// already hours and gigabytes.
    pub fn bootstrap() -> IntRange<usize> {
        int_in(100..=100_000)
    }

    /// A negative factor would call every value an outlier.
    pub fn iqr_factor() -> FloatRange {
        finite_f64_in(0.0..)
    }
}

/// Whose analysis the metrics follow where factlab's and the authors' released code differ
/// (`fit --help` gives each difference and why the default is what it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Analysis {
    /// t_pre is the paragraph's own first injection step; R is read between evaluated steps; no
    /// outlier filter on effectivity.
    #[default]
    Factlab,
    /// As Chang et al.'s `ppl_analysis.py` / `forgetting_plot.py`: t_pre = the first evaluation
    /// v[0], R only where LAM + t was evaluated, the IQR filter (factor `--iqr-factor`, 2.0 in
    /// their code) on effectivity too.
    Authors,
}

#[derive(Debug, Clone)]
pub struct FitOptions {
    pub logprobs: Vec<PathBuf>,
    pub injections: PathBuf,
    /// t_w: steps after an injection searched for the local acquisition maximum.
    pub window: u32,
    /// IQR factor of the outlier filter on R (paper: 1.5; the authors' code: 2.0), and on
    /// effectivity under [`Analysis::Authors`].
    pub iqr_factor: f64,
    pub analysis: Analysis,
    pub bootstrap: usize,
    pub seed: u64,
    /// batch × sequence length, to express x-intercepts in tokens.
    pub tokens_per_step: f64,
    /// Subtracted from injection steps to put them on the logprobs' step numbering.
    pub step_offset: u32,
    pub output: PathBuf,
}

impl FitOptions {
    /// Tokens per step from a shard manifest (batch size × sequence length).
    /// The bounds `fit`'s flags are parsed with, for callers that fill the options in code.
    pub fn check(&self) -> Result<()> {
        use factlab_cli::Bounds;
        bounds::window().check("--window", self.window)?;
        bounds::iqr_factor().check("--iqr-factor", self.iqr_factor)?;
        bounds::bootstrap().check("--bootstrap", self.bootstrap)?;
        factlab_cli::positive_f64().check("--tokens-per-step", self.tokens_per_step)?;
        factlab_cli::steps().check("--step-offset", self.step_offset)?;
        Ok(())
    }

    pub fn tokens_per_step_from(manifest: &Path) -> Result<f64> {
        let m = ShardManifest::load(manifest)?;
        Ok(m.batch_size as f64 * m.seq_len as f64)
    }
}

/// Everything `fit` computes, also returned to callers and tests.
#[derive(Debug, Default)]
pub struct Fitted {
    pub effectivity: Vec<EffectivityRow>,
    pub retention: Vec<RetentionRow>,
    pub decay: Vec<DecayRow>,
    pub trajectory: Vec<TrajectoryRow>,
    /// The control's pseudo-effectivity beside the rise its trend-free permuted series give.
    pub window_bias: Vec<WindowBias>,
    pub draws: Vec<DrawRow>,
    /// Paragraphs in the smallest resampled stratum, and the factor its draws were stretched by.
    pub smallest_stratum: usize,
    pub stretch: f64,
}

/// Group key: run, scenario, probe kind.
type Group = (String, String, String);

struct ProbeSeries {
    kind: String,
    knowledge_id: u32,
    /// step → v[step]
    values: BTreeMap<u32, f64>,
}

impl ProbeSeries {
    /// v at `step`, linearly interpolated between evaluated steps (exact where evaluated).
    fn at(&self, step: u32) -> Option<f64> {
        if let Some(v) = self.values.get(&step) {
            return Some(*v);
        }
        let (s0, v0) = self.values.range(..step).next_back()?;
        let (s1, v1) = self.values.range(step..).next()?;
        Some(v0 + (v1 - v0) * (step - s0) as f64 / (s1 - s0) as f64)
    }

    /// The steps after an injection at `step`, `window` of them: empty (never an overflow or an
    /// inverted range) when `window` is 0 or `step` is the last step number.
    fn window_after(
        &self,
        step: u32,
        window: u32,
    ) -> std::collections::btree_map::Range<'_, u32, f64> {
        match step.checked_add(1) {
            Some(first) if window > 0 => self.values.range(first..=step.saturating_add(window)),
            _ => self.values.range(0..0),
        }
    }

    /// The last evaluated step of the window after an injection at `step`.
    fn last_evaluated_in_window(&self, step: u32, window: u32) -> Option<u32> {
        self.window_after(step, window).next_back().map(|(&s, _)| s)
    }

    /// v at the last evaluated step at or before `step`: the value before an injection at `step`
    /// when `step` itself was not evaluated (foils are scored at fewer steps than probes).
    fn at_or_before(&self, step: u32) -> Option<f64> {
        self.values.range(..=step).next_back().map(|(_, &v)| v)
    }

    /// (t_LAM, v[t_LAM]) for an injection at `step`, or `None` if the window has no evaluation.
    fn acquisition_maximum(&self, step: u32, window: u32) -> Option<(u32, f64)> {
        self.window_after(step, window).fold(
            None,
            |best: Option<(u32, f64)>, (&s, &v)| match best {
                Some((_, bv)) if bv >= v => best,
                _ => Some((s, v)),
            },
        )
    }
}

struct Schedule {
    scenario: String,
    steps: Vec<u32>,
}

/// run → probe id → series
type Runs = BTreeMap<String, BTreeMap<u32, ProbeSeries>>;

/// The strata the paragraph bootstrap resamples within: each scenario's injected paragraphs, and
/// the control's, among the paragraphs that have scored probes.
fn strata(runs: &Runs, schedules: &Schedules) -> BTreeMap<String, BTreeSet<u32>> {
    let mut strata: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for probe in runs.values().flat_map(BTreeMap::values) {
        let stratum = match schedules.by_knowledge.get(&probe.knowledge_id) {
            Some(schedule) => schedule.scenario.clone(),
            None => CONTROL.to_string(),
        };
        strata
            .entry(stratum)
            .or_default()
            .insert(probe.knowledge_id);
    }
    strata
}

/// Every group's draws as rows: effectivity's groups, with the decay draws where the group has a
/// fit.
fn draw_rows(
    effectivity: &[effectivity::GroupEstimates],
    decay: &[retention::DecayEstimates],
    draws: usize,
) -> Vec<DrawRow> {
    let decay: BTreeMap<&Group, &retention::DecayEstimates> =
        decay.iter().map(|d| (&d.group, d)).collect();
    let mut rows = Vec::new();
    for e in effectivity {
        let (run_id, scenario, kind) = &e.group;
        let fitted = decay.get(&e.group);
        for draw in 0..draws {
            let at = |r: &Option<factlab_inference::Resampled>| r.as_ref().map(|r| r.draws[draw]);
            rows.push(DrawRow {
                run_id: run_id.clone(),
                scenario: scenario.clone(),
                kind: kind.clone(),
                draw: draw as u32,
                effectivity: e.target.effectivity.draws[draw],
                control: at(&e.target.control),
                net: at(&e.target.net),
                first_token_net: at(&e.first_token.net),
                specificity_net: e
                    .specificity
                    .and_then(|s| s.net.as_ref())
                    .map(|r| r.draws[draw]),
                decay_a: fitted.map(|d| d.a.draws[draw]),
                x_intercept_log10_steps: fitted.map(|d| d.x_intercept_log10_steps.draws[draw]),
            });
        }
    }
    rows
}

fn compute(
    logprobs: &[LogprobRow],
    schedules: &Schedules,
    options: &FitOptions,
    measure_window_bias: bool,
) -> Result<Fitted> {
    let observations = tables::observations(logprobs)?;
    let runs = tables::series(&observations, "target_logprob")?;
    let first_token_runs = tables::series(&observations, "first_token_logprob")?;
    let specificity_runs = tables::series(&observations, "specificity")?;
    let draws = ParagraphDraws::new(&strata(&runs, schedules), options.bootstrap, options.seed);
    let (retention, decay, decay_estimates) =
        retention::rows(&runs, &schedules.by_knowledge, options, &draws)?;
    let specificity = specificity::estimates(&specificity_runs, schedules, options.window, &draws);
    let (effectivity, estimates) = effectivity::rows(
        &runs,
        &first_token_runs,
        schedules,
        options,
        &draws,
        &specificity,
    )?;
    Ok(Fitted {
        draws: draw_rows(&estimates, &decay_estimates, draws.draws()),
        effectivity,
        retention,
        decay,
        trajectory: tables::trajectory(&observations, schedules)?,
        window_bias: if measure_window_bias {
            window_bias::rows(&runs, schedules, options.window, options.seed)
        } else {
            Vec::new()
        },
        smallest_stratum: draws.smallest_stratum(),
        stretch: draws.factor(),
    })
}

/// The metrics of Chang et al. from rows in memory, as [`run`] computes them after reading its
/// files, without writing any and without the window-bias measurement (which shuffles every
/// control series a thousand times): for callers that build rows themselves, such as the
/// calibration by simulation.
pub fn fit_rows(
    logprobs: &[LogprobRow],
    injections: &[Injection],
    options: &FitOptions,
) -> Result<Fitted> {
    fit_in_memory(logprobs, injections, options, false)
}

fn fit_in_memory(
    logprobs: &[LogprobRow],
    injections: &[Injection],
    options: &FitOptions,
    measure_window_bias: bool,
) -> Result<Fitted> {
    let schedules = tables::schedules(injections, options.step_offset, &options.injections)?;
    let control: BTreeSet<u32> = logprobs
        .iter()
        .map(|r| r.knowledge_id)
        .filter(|k| !schedules.by_knowledge.contains_key(k))
        .collect();
    if control.is_empty() {
        tracing::warn!("every probed paragraph was injected: no control group, so the control and net columns are NaN; generate more paragraphs than the schedule's groups take");
    } else {
        tracing::info!(
            paragraphs = control.len(),
            "never-injected paragraphs form the control group"
        );
    }
    let fitted = compute(logprobs, &schedules, options, measure_window_bias)?;
    if fitted.effectivity.is_empty() {
        bail!(
            "no probe was evaluated at an injection step and in the {}-step window after it: do the injections' steps and the logprobs' steps count alike (see --step-offset)?",
            options.window
        );
    }
    Ok(fitted)
}

/// Reads the inputs, computes every metric and writes the four tables and `fit.md` into
/// `options.output`.
pub fn run(options: &FitOptions) -> Result<Fitted> {
    options.check()?;
    let injections: Vec<Injection> = read_rows(&options.injections)?;
    if injections.is_empty() {
        bail!("{}: no injections", options.injections.display());
    }
    let mut logprobs = Vec::new();
    // Rows are told apart by run id only: two files of one id would merge into one run.
    let mut run_files: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for path in &options.logprobs {
        check_made_from(path, Injection::NAME, &options.injections)?;
        check_same_origin(path, &options.injections, Knowledge::NAME)?;
        let rows = read_rows::<LogprobRow>(path)?;
        let ids: BTreeSet<&str> = rows.iter().map(|r| r.run_id.as_str()).collect();
        for id in ids {
            if let Some(earlier) = run_files.insert(id.to_string(), path) {
                bail!(
                    "{} and {} both hold run `{id}`; give each run its own id (`train --run-id`)",
                    earlier.display(),
                    path.display()
                );
            }
        }
        logprobs.extend(rows);
    }
    if logprobs.is_empty() {
        bail!("no logprob rows in {:?}", options.logprobs);
    }
    let fitted = fit_in_memory(&logprobs, &injections, options, true)?;
    let out = &options.output;
    write_rows(&out.join("effectivity.parquet"), &fitted.effectivity)?;
    write_rows(&out.join("retention.parquet"), &fitted.retention)?;
    write_rows(&out.join("decay.parquet"), &fitted.decay)?;
    write_rows(&out.join("trajectory.parquet"), &fitted.trajectory)?;
    write_rows(&out.join("draws.parquet"), &fitted.draws)?;
    write_atomic(&out.join("fit.md"), summary(&fitted, options).as_bytes())?;
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_never_overflow_or_invert() {
        let probe = ProbeSeries {
            kind: "memorization".into(),
            knowledge_id: 0,
            values: BTreeMap::from([(1, 0.5), (3, 1.0), (u32::MAX, 2.0)]),
        };
        assert_eq!(probe.acquisition_maximum(0, 0), None);
        assert_eq!(probe.acquisition_maximum(0, 2), Some((1, 0.5)));
        assert_eq!(
            probe.acquisition_maximum(0, u32::MAX),
            Some((u32::MAX, 2.0))
        );
        assert_eq!(
            probe.acquisition_maximum(5, u32::MAX),
            Some((u32::MAX, 2.0))
        );
        assert_eq!(probe.last_evaluated_in_window(u32::MAX, 50), None);
        assert_eq!(
            probe.last_evaluated_in_window(2, 4_294_967_295),
            Some(u32::MAX)
        );
    }

    #[test]
    fn options_out_of_bounds_are_refused() {
        let options = FitOptions {
            logprobs: vec![],
            injections: PathBuf::from("i.parquet"),
            window: 50,
            iqr_factor: 1.5,
            analysis: Analysis::Factlab,
            bootstrap: 1000,
            seed: 0,
            tokens_per_step: 1.0,
            step_offset: 0,
            output: PathBuf::from("out"),
        };
        assert!(options.check().is_ok());
        for (bad, flag) in [
            (
                FitOptions {
                    window: 0,
                    ..options.clone()
                },
                "--window is 0",
            ),
            (
                FitOptions {
                    iqr_factor: -3.0,
                    ..options.clone()
                },
                "--iqr-factor is -3",
            ),
            (
                FitOptions {
                    bootstrap: 0,
                    ..options.clone()
                },
                "--bootstrap is 0",
            ),
            (
                FitOptions {
                    tokens_per_step: f64::NAN,
                    ..options.clone()
                },
                "--tokens-per-step is NaN",
            ),
        ] {
            let error = run(&bad).err().unwrap().to_string();
            assert!(error.starts_with(flag), "{error}");
        }
    }
}
