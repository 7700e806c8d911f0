use std::path::{Path, PathBuf};

use anyhow::bail;
use anyhow::Result;
use clap::{Parser, Subcommand};
use factlab_artifacts::{
    display_path, read_rows, write_atomic, Answer, Artifact, DecayRow, EffectivityRow,
    LinearProbeRow, RetentionRow, TrajectoryRow,
};
use factlab_cli::{steps, Verbosity};
use factlab_inference::findings::{self, Seed};
use plot::{
    check_runs, injection_steps, save, BiosQa, ChoicePanel, EffectivityPanel, Fig2, Fig3, Fig4,
    Fig5, IclVsFinetune, ProbePositions, QProbeQa, VariantAccuracy, VariantProbes, VariantQProbes,
};

/// Figures of Chang et al. 2024 from `fit`'s tables: PREFIX.png, PREFIX.svg and PREFIX.md.
#[derive(Parser)]
#[command(
    name = "plot",
    version,
    after_help = "\
Examples:
  plot fig3 --effectivity fit/effectivity.parquet --left early,mid,late --right small-mid,large-mid -o results/fig3/fig3
  plot fig2 --trajectory fit/trajectory.parquet --injections shards/injections.parquet --run mid -o results/fig2/fig2
  plot fig4 --retention fit/retention.parquet --decay fit/decay.parquet --run mid -o results/fig4/fig4
  plot fig5 --retention fit-b12/retention.parquet fit-b48/retention.parquet \\
       --decay fit-b12/decay.parquet fit-b48/decay.parquet --runs batch-12,batch-48 -o results/fig5/fig5
  plot findings --effectivity s1/fit/effectivity.parquet s2/fit/effectivity.parquet \\
       --decay s1/fit/decay.parquet s2/fit/decay.parquet \\
       --draws s1/fit/draws.parquet s2/fit/draws.parquet -o results/findings.md
  plot bios-qa --answers single/answers.parquet multi5+permute/answers.parquet \\
       --variants single,multi5+permute -o results/bios-qa/bios-qa
  plot probe-positions --probes single/p-probe/linear-probe.parquet multi5+permute/p-probe/linear-probe.parquet \\
       --variants single,multi5+permute -o results/bios-probing/p-probes"
)]
struct Cli {
    #[command(subcommand)]
    figure: FigureCommand,
    #[command(flatten)]
    verbosity: Verbosity,
}

#[derive(Subcommand)]
enum FigureCommand {
    /// Average effectivity per scenario × probe kind; left panel runs (stages), right panel runs (sizes).
    Fig3 {
        #[arg(long)]
        effectivity: PathBuf,
        /// Runs of the left panel, comma-separated (the paper: early, mid, late checkpoints).
        #[arg(long, value_delimiter = ',', required = true)]
        left: Vec<String>,
        #[arg(long, default_value = "pretraining stage")]
        left_title: String,
        /// Runs of the right panel (the paper: two model sizes at the same stage).
        #[arg(long, value_delimiter = ',')]
        right: Vec<String>,
        #[arg(long, default_value = "model size")]
        right_title: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Mean Δℓ against step per probe kind, one panel per scenario, injections dotted, the
    /// never-injected control's Δℓ (kinds pooled) dashed grey in every panel.
    Fig2 {
        #[arg(long)]
        trajectory: PathBuf,
        #[arg(long)]
        injections: PathBuf,
        #[arg(long)]
        run: String,
        /// Subtracted from injection steps (as for `fit`).
        #[arg(long, default_value_t = 0, value_parser = steps())]
        step_offset: u32,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Mean retainability against log steps with the fitted decay lines, one panel per scenario.
    Fig4 {
        #[arg(long)]
        retention: PathBuf,
        #[arg(long)]
        decay: PathBuf,
        #[arg(long)]
        run: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Retainability against tokens for runs of different batch size, fits extended to R = 0.
    /// Takes several fit outputs, since runs of different batch size are fitted apart.
    Fig5 {
        #[arg(long, required = true, num_args = 1..)]
        retention: Vec<PathBuf>,
        #[arg(long, required = true, num_args = 1..)]
        decay: Vec<PathBuf>,
        #[arg(long, value_delimiter = ',', required = true)]
        runs: Vec<String>,
        #[arg(long, default_value = "duplicate")]
        scenario: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Physics of LMs 3.1 Figure 3: QA exact-match accuracy per augmentation variant (groups)
    /// and attribute (bars), from `probe generate`'s answers, one file per variant.
    BiosQa {
        /// answers.parquet of each variant.
        #[arg(long, required = true, num_args = 1..)]
        answers: Vec<PathBuf>,
        /// The variants' names, comma-separated, in the same order.
        #[arg(long, value_delimiter = ',', required = true)]
        variants: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Physics of LMs 3.1 Figure 5: P-probe accuracy at each position of a biography, one line
    /// per attribute predicted, one panel per variant, from `fit linear-probe`'s tables.
    ProbePositions {
        /// linear-probe.parquet of each variant (its deepest layer is drawn).
        #[arg(long, required = true, num_args = 1..)]
        probes: Vec<PathBuf>,
        /// The variants' names, comma-separated, in the same order.
        #[arg(long, value_delimiter = ',', required = true)]
        variants: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Physics of LMs 3.1 Figure 6: per attribute, Q-probe accuracy (the name alone) beside QA
    /// accuracy, one panel per variant, from `fit linear-probe`'s Q-probe tables and `probe
    /// generate`'s answers.
    QProbeQa {
        /// Q-probe linear-probe.parquet of each variant (its deepest layer is drawn).
        #[arg(long, required = true, num_args = 1..)]
        probes: Vec<PathBuf>,
        /// answers.parquet of each variant, in the same order.
        #[arg(long, required = true, num_args = 1..)]
        answers: Vec<PathBuf>,
        /// The variants' names, comma-separated, in the same order.
        #[arg(long, value_delimiter = ',', required = true)]
        variants: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Lampinen et al. 2025 Figures 2–4: multiple-choice accuracy per test split and condition
    /// (pretrained, finetuned, in context, finetuned on augmented data) with Wilson 95 %
    /// intervals and chance, one panel per dataset, from `fit choice-accuracy`'s tables;
    /// `augmented-rules` is labelled as the recall bound it is (the tests' own sentences) and
    /// `augmented-reworded` as the same oracle in other words.
    IclVsFinetune {
        /// choice-accuracy.parquet of each dataset.
        #[arg(long, required = true, num_args = 1..)]
        accuracy: Vec<PathBuf>,
        /// The datasets' names (panel titles), comma-separated, in the same order.
        #[arg(long, value_delimiter = ',', required = true)]
        datasets: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Verdicts on the paper's Figure 3 and Table 2 findings over one or more seeds, by the
    /// decision rule of docs/fidelity.md, as a Markdown file (no figure). Comparisons are
    /// judged on paired paragraph-bootstrap draws (fit's draws.parquet); with several seeds,
    /// seeds are resampled first, then a draw within each. Each finding is judged on the mean
    /// of its comparisons' differences, beside its minimum detectable effect; F2 (no rise) by
    /// an equivalence test. The rule was calibrated on simulated runs with no effect (fit's
    /// tests): no verdict passes noise more than 5 % of the time.
    Findings {
        /// effectivity.parquet of each seed.
        #[arg(long, required = true, num_args = 1..)]
        effectivity: Vec<PathBuf>,
        /// decay.parquet of each seed, in the same order.
        #[arg(long, required = true, num_args = 1..)]
        decay: Vec<PathBuf>,
        /// draws.parquet of each seed, in the same order.
        #[arg(long, required = true, num_args = 1..)]
        draws: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "net")]
        metric: Metric,
        /// Runs compared: early, mid and late stage of the small model, then the large model's
        /// mid, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "small-early,small-mid,small-late,large-mid"
        )]
        runs: Vec<String>,
        /// The Markdown file written.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Rows of each file made into a figure part by `build(name, rows, origin)`, one name per file
/// (`--variants` or `--datasets`).
fn read_named<T: Artifact, U>(
    files: &[PathBuf],
    files_flag: &str,
    names: &[String],
    build: impl Fn(&str, Vec<T>, &str) -> Result<U>,
) -> Result<Vec<U>> {
    check_names(files_flag, files.len(), names)?;
    files
        .iter()
        .zip(names)
        .map(|(path, name)| build(name, read_rows(path)?, &display_path(path)))
        .collect()
}

/// One name per input file.
fn check_names(files_flag: &str, files: usize, names: &[String]) -> Result<()> {
    if files != names.len() {
        bail!(
            "{files} {files_flag} files but {} names; give one name per file",
            names.len()
        );
    }
    Ok(())
}

/// The rows of every file, each file's rows left out by [`finite_only`] on `columns`.
fn read_all<T: Artifact>(paths: &[PathBuf], columns: &[Column<T>]) -> Result<Vec<T>> {
    let mut rows = Vec::new();
    for path in paths {
        rows.extend(finite_only(read_rows::<T>(path)?, path, columns));
    }
    Ok(rows)
}

/// A column a figure draws: its name and its value in a row.
type Column<T> = (&'static str, fn(&T) -> f64);

/// Leaves out the rows whose drawn value in one of `columns` is NaN or infinite (a group `fit`
/// could not measure), with one warning per file and column: a figure never draws a NaN as if
/// it were a number.
fn finite_only<T>(mut rows: Vec<T>, file: &Path, columns: &[Column<T>]) -> Vec<T> {
    for (name, value) in columns {
        let before = rows.len();
        rows.retain(|row| value(row).is_finite());
        if rows.len() < before {
            tracing::warn!(
                "{}: column `{name}`: {} of {before} rows are NaN or infinite; left out of the figure and its table",
                display_path(file),
                before - rows.len()
            );
        }
    }
    rows
}

const EFFECTIVITY: &[Column<EffectivityRow>] = &[("mean", |r| r.mean)];
const RETENTION: &[Column<RetentionRow>] = &[("mean", |r| r.mean)];
const DECAY: &[Column<DecayRow>] = &[("a", |r| r.a), ("intercept", |r| r.intercept)];
const TRAJECTORY: &[Column<TrajectoryRow>] = &[("mean_delta", |r| r.mean_delta)];

fn main() -> Result<()> {
    let cli: Cli = factlab_cli::parse();
    cli.verbosity.init_logging();
    let written = match cli.figure {
        FigureCommand::Fig3 {
            effectivity,
            left,
            left_title,
            right,
            right_title,
            output,
        } => {
            let rows = finite_only(read_rows(&effectivity)?, &effectivity, EFFECTIVITY);
            check_runs(
                &[left.clone(), right.clone()].concat(),
                rows.iter().map(|r| r.run_id.as_str()),
                &effectivity,
            )?;
            let mut panels = vec![EffectivityPanel {
                title: left_title,
                runs: left,
            }];
            if !right.is_empty() {
                panels.push(EffectivityPanel {
                    title: right_title,
                    runs: right,
                });
            }
            save(&Fig3 { panels, rows }, &output)?;
            output
        }
        FigureCommand::BiosQa {
            answers,
            variants,
            output,
        } => {
            let variants = read_named(
                &answers,
                "--answers",
                &variants,
                |variant, rows: Vec<Answer>, origin| {
                    VariantAccuracy::from_answers(variant, &rows, origin)
                },
            )?;
            save(&BiosQa { variants }, &output)?;
            output
        }
        FigureCommand::QProbeQa {
            probes,
            answers,
            variants,
            output,
        } => {
            check_names("--probes", probes.len(), &variants)?;
            check_names("--answers", answers.len(), &variants)?;
            let variants = probes
                .iter()
                .zip(&answers)
                .zip(&variants)
                .map(|((probe_path, answer_path), variant)| {
                    let answers: Vec<Answer> = read_rows(answer_path)?;
                    let qa = VariantAccuracy::from_answers(
                        variant,
                        &answers,
                        &display_path(answer_path),
                    )?;
                    let rows: Vec<LinearProbeRow> = read_rows(probe_path)?;
                    VariantQProbes::new(&rows, qa, &display_path(probe_path))
                })
                .collect::<Result<Vec<_>>>()?;
            save(&QProbeQa { variants }, &output)?;
            output
        }
        FigureCommand::IclVsFinetune {
            accuracy,
            datasets,
            output,
        } => {
            let panels = read_named(&accuracy, "--accuracy", &datasets, ChoicePanel::new)?;
            save(&IclVsFinetune { panels }, &output)?;
            output
        }
        FigureCommand::ProbePositions {
            probes,
            variants,
            output,
        } => {
            let variants = read_named(&probes, "--probes", &variants, VariantProbes::new)?;
            save(&ProbePositions { variants }, &output)?;
            output
        }
        FigureCommand::Fig2 {
            trajectory,
            injections,
            run,
            step_offset,
            output,
        } => {
            let rows = finite_only(read_rows(&trajectory)?, &trajectory, TRAJECTORY);
            check_runs(
                std::slice::from_ref(&run),
                rows.iter().map(|r| r.run_id.as_str()),
                &trajectory,
            )?;
            let rows: Vec<TrajectoryRow> = rows.into_iter().filter(|r| r.run_id == run).collect();
            if !rows
                .iter()
                .any(|r| r.scenario == TrajectoryRow::CONTROL_SCENARIO)
            {
                tracing::warn!(
                    "{}: no `{}` rows for run `{run}` (no never-injected paragraph was scored): the figure has no control line",
                    display_path(&trajectory),
                    TrajectoryRow::CONTROL_SCENARIO
                );
            }
            let injection_steps = injection_steps(&injections, step_offset)?;
            save(
                &Fig2 {
                    run,
                    rows,
                    injection_steps,
                },
                &output,
            )?;
            output
        }
        FigureCommand::Fig4 {
            retention,
            decay,
            run,
            output,
        } => {
            let rows = finite_only(read_rows(&retention)?, &retention, RETENTION);
            check_runs(
                std::slice::from_ref(&run),
                rows.iter().map(|r| r.run_id.as_str()),
                &retention,
            )?;
            let retention = rows.into_iter().filter(|r| r.run_id == run).collect();
            let decay = finite_only(read_rows(&decay)?, &decay, DECAY);
            save(
                &Fig4 {
                    run,
                    retention,
                    decay,
                },
                &output,
            )?;
            output
        }
        FigureCommand::Fig5 {
            retention,
            decay,
            runs,
            scenario,
            output,
        } => {
            let rows = read_all(&retention, RETENTION)?;
            check_runs(&runs, rows.iter().map(|r| r.run_id.as_str()), &retention[0])?;
            let decay = read_all(&decay, DECAY)?;
            save(
                &Fig5 {
                    runs,
                    scenario,
                    retention: rows,
                    decay,
                },
                &output,
            )?;
            output
        }
        // A table, not a figure: it logs its own file.
        FigureCommand::Findings {
            effectivity,
            decay,
            draws,
            metric,
            runs,
            output,
        } => return write_findings(&effectivity, &decay, &draws, metric, &runs, &output),
    };
    tracing::info!("wrote {0}.png, {0}.svg and {0}.md", written.display());
    Ok(())
}

/// Which effectivity value `plot findings` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Metric {
    /// E − E_control, mean over target tokens.
    Net,
    /// E, mean over target tokens, control not subtracted.
    Raw,
    /// E − E_control on the first target token.
    FirstToken,
}

impl From<Metric> for findings::Metric {
    fn from(metric: Metric) -> Self {
        match metric {
            Metric::Net => findings::Metric::Net,
            Metric::Raw => findings::Metric::Raw,
            Metric::FirstToken => findings::Metric::FirstToken,
        }
    }
}

fn write_findings(
    effectivity: &[PathBuf],
    decay: &[PathBuf],
    draws: &[PathBuf],
    metric: Metric,
    runs: &[String],
    output: &std::path::Path,
) -> Result<()> {
    if effectivity.len() != decay.len() || effectivity.len() != draws.len() {
        bail!(
            "{} --effectivity files, {} --decay files and {} --draws files; expected one of each per seed",
            effectivity.len(),
            decay.len(),
            draws.len()
        );
    }
    let [early, mid, late, large] = runs else {
        bail!(
            "--runs {}: expected 4 runs (early, mid, late stage, large model's mid)",
            runs.join(",")
        );
    };
    let mut seeds = Vec::new();
    for ((e, d), b) in effectivity.iter().zip(decay).zip(draws) {
        let rows = finite_only(read_rows(e)?, e, EFFECTIVITY);
        // A sweep may run only some stages: the findings that need a missing run are reported
        // as not measured.
        if let Err(missing) = check_runs(runs, rows.iter().map(|r| r.run_id.as_str()), e) {
            tracing::warn!("{missing:#}; the findings that need it are not measured");
        }
        let seed = Seed::new(rows, finite_only(read_rows(d)?, d, DECAY), read_rows(b)?)
            .map_err(|why| anyhow::anyhow!("{}: {why}", b.display()))?;
        seeds.push(seed);
    }
    let runs = findings::Runs {
        early: early.clone(),
        mid: mid.clone(),
        late: late.clone(),
        large: large.clone(),
    };
    let md = findings::report(&seeds, &runs, metric.into());
    write_atomic(output, md.as_bytes())?;
    tracing::info!("wrote {}", output.display());
    Ok(())
}
