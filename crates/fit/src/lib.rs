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

mod effectivity;
mod report;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use factlab_artifacts::{
    read_rows, write_atomic, write_rows, DecayRow, EffectivityRow, Injection, LogprobRow,
    RetentionRow, ShardManifest, TrajectoryRow,
};

pub use report::summary;
use stats::{least_squares, without_outliers};

#[derive(Debug, Clone)]
pub struct FitOptions {
    pub logprobs: Vec<PathBuf>,
    pub injections: PathBuf,
    /// t_w: steps after an injection searched for the local acquisition maximum.
    pub window: u32,
    /// IQR factor of the outlier filter on R (paper: 1.5; the authors' code: 2.0).
    pub iqr_factor: f64,
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

    /// The last evaluated step of the window after an injection at `step`.
    fn last_evaluated_in_window(&self, step: u32, window: u32) -> Option<u32> {
        self.values
            .range(step + 1..=step + window)
            .next_back()
            .map(|(&s, _)| s)
    }

    /// (t_LAM, v[t_LAM]) for an injection at `step`, or `None` if the window has no evaluation.
    fn acquisition_maximum(&self, step: u32, window: u32) -> Option<(u32, f64)> {
        self.values.range(step + 1..=step + window).fold(
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

fn schedules(
    injections: &[Injection],
    offset: u32,
    origin: &Path,
) -> Result<BTreeMap<u32, Schedule>> {
    let mut by_knowledge: BTreeMap<u32, Schedule> = BTreeMap::new();
    for (row, injection) in injections.iter().enumerate() {
        let step = injection.step.checked_sub(offset).with_context(|| {
            format!(
                "{}: row {row}: injection step {} is before --step-offset {offset}",
                origin.display(),
                injection.step
            )
        })?;
        let schedule = by_knowledge
            .entry(injection.knowledge_id)
            .or_insert_with(|| Schedule {
                scenario: injection.scenario.clone(),
                steps: Vec::new(),
            });
        if schedule.scenario != injection.scenario {
            bail!(
                "{}: column `scenario`, row {row}: knowledge {} is in scenario `{}` and `{}`",
                origin.display(),
                injection.knowledge_id,
                schedule.scenario,
                injection.scenario
            );
        }
        schedule.steps.push(step);
    }
    for schedule in by_knowledge.values_mut() {
        schedule.steps.sort_unstable();
        schedule.steps.dedup();
    }
    Ok(by_knowledge)
}

/// run → probe id → series
type Runs = BTreeMap<String, BTreeMap<u32, ProbeSeries>>;

/// The series of one value of the logprob rows (ℓ, or the first target token's log-probability).
fn series(rows: &[LogprobRow], value: impl Fn(&LogprobRow) -> f64) -> Runs {
    let mut runs: Runs = BTreeMap::new();
    for row in rows {
        runs.entry(row.run_id.clone())
            .or_default()
            .entry(row.probe_id)
            .or_insert_with(|| ProbeSeries {
                kind: row.kind.as_str().to_string(),
                knowledge_id: row.knowledge_id,
                values: BTreeMap::new(),
            })
            .values
            .insert(row.step, value(row));
    }
    runs
}

fn compute(
    logprobs: Vec<LogprobRow>,
    schedules_by_knowledge: &BTreeMap<u32, Schedule>,
    options: &FitOptions,
) -> Fitted {
    let runs = series(&logprobs, |r| r.target_logprob);
    let first_token_runs = series(&logprobs, |r| r.first_token_logprob);
    let mut retention_values: BTreeMap<Group, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    let mut deltas: BTreeMap<Group, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();

    for (run, probes) in &runs {
        let evaluated: BTreeSet<u32> = probes
            .values()
            .flat_map(|p| p.values.keys().copied())
            .collect();
        for probe in probes.values() {
            let Some(schedule) = schedules_by_knowledge.get(&probe.knowledge_id) else {
                continue;
            };
            let group = (run.clone(), schedule.scenario.clone(), probe.kind.clone());

            let first = schedule.steps[0];
            let last = *schedule.steps.last().expect("schedules are never empty");
            if let (Some(&pre), Some((lam, at_lam))) = (
                probe.values.get(&first),
                probe.acquisition_maximum(last, options.window),
            ) {
                let gain = at_lam - pre;
                if gain.abs() > 1e-12 {
                    let by_t = retention_values.entry(group.clone()).or_default();
                    by_t.entry(0).or_default().push(1.0);
                    for t in evaluated.range(last + 1..).map(|s| s - last) {
                        if let Some(v) = probe.at(lam + t) {
                            by_t.entry(t).or_default().push((v - pre) / gain);
                        }
                    }
                }
            }

            if let Some((_, &base)) = probe.values.iter().next() {
                let by_step = deltas.entry(group).or_default();
                for (&step, &v) in &probe.values {
                    by_step.entry(step).or_default().push(v - base);
                }
            }
        }
    }

    let mut fitted = Fitted {
        effectivity: effectivity::rows(&runs, &first_token_runs, schedules_by_knowledge, options),
        ..Fitted::default()
    };
    for ((run, scenario, kind), by_t) in retention_values {
        let mut points = Vec::new();
        for (t, values) in by_t {
            let kept = without_outliers(&values, options.iqr_factor);
            if kept.is_empty() {
                continue;
            }
            let mean = stats::mean(&kept);
            if t >= 1 {
                points.push(((t as f64).log10(), mean));
            }
            fitted.retention.push(RetentionRow {
                run_id: run.clone(),
                scenario: scenario.clone(),
                kind: kind.clone(),
                t,
                mean,
                probes: kept.len() as u32,
            });
        }
        let (x, y): (Vec<f64>, Vec<f64>) = points.into_iter().unzip();
        if let Some(line) = least_squares(&x, &y) {
            let x_intercept = -line.intercept / line.slope;
            fitted.decay.push(DecayRow {
                run_id: run,
                scenario,
                kind,
                a: -line.slope,
                a_stderr: line.slope_stderr,
                intercept: line.intercept,
                r_squared: line.r_squared,
                x_intercept_log10_steps: x_intercept,
                x_intercept_log10_tokens: x_intercept + options.tokens_per_step.log10(),
                tokens_per_step: options.tokens_per_step,
                points: x.len() as u32,
            });
        }
    }
    for ((run, scenario, kind), by_step) in deltas {
        for (step, values) in by_step {
            fitted.trajectory.push(TrajectoryRow {
                run_id: run.clone(),
                scenario: scenario.clone(),
                kind: kind.clone(),
                step,
                mean_delta: stats::mean(&values),
                probes: values.len() as u32,
            });
        }
    }
    fitted
}

/// Reads the inputs, computes every metric and writes the four tables and `fit.md` into
/// `options.output`.
pub fn run(options: &FitOptions) -> Result<Fitted> {
    let injections: Vec<Injection> = read_rows(&options.injections)?;
    if injections.is_empty() {
        bail!("{}: no injections", options.injections.display());
    }
    let schedules_by_knowledge = schedules(&injections, options.step_offset, &options.injections)?;
    let mut logprobs = Vec::new();
    for path in &options.logprobs {
        logprobs.extend(read_rows::<LogprobRow>(path)?);
    }
    if logprobs.is_empty() {
        bail!("no logprob rows in {:?}", options.logprobs);
    }
    let control: BTreeSet<u32> = logprobs
        .iter()
        .map(|r| r.knowledge_id)
        .filter(|k| !schedules_by_knowledge.contains_key(k))
        .collect();
    if control.is_empty() {
        tracing::warn!("every probed paragraph was injected: no control group, so the control and net columns are NaN; generate more paragraphs than the schedule's groups take");
    } else {
        tracing::info!(
            paragraphs = control.len(),
            "never-injected paragraphs form the control group"
        );
    }
    let fitted = compute(logprobs, &schedules_by_knowledge, options);
    if fitted.effectivity.is_empty() {
        bail!(
            "no probe was evaluated at an injection step and in the {}-step window after it: do the injections' steps and the logprobs' steps count alike (see --step-offset)?",
            options.window
        );
    }
    let out = &options.output;
    write_rows(&out.join("effectivity.parquet"), &fitted.effectivity)?;
    write_rows(&out.join("retention.parquet"), &fitted.retention)?;
    write_rows(&out.join("decay.parquet"), &fitted.decay)?;
    write_rows(&out.join("trajectory.parquet"), &fitted.trajectory)?;
    write_atomic(&out.join("fit.md"), summary(&fitted, options).as_bytes())?;
    Ok(fitted)
}
