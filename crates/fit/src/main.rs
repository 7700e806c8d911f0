use std::path::PathBuf;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use factlab_cli::{positive_f64, steps, Verbosity};
use fit::{bounds, ChoiceAccuracyOptions, FitOptions, LinearProbeOptions};

/// Effectivity, retainability and decay constants (Chang et al. 2024 §4).
///
/// Reads one or more logprobs files (runs told apart by `run_id`) and the injections of the
/// shards they were trained on. Writes effectivity.parquet, retention.parquet, decay.parquet,
/// trajectory.parquet, draws.parquet and a Markdown summary fit.md into the output folder.
///
/// Intervals: every 95 % interval is a paragraph bootstrap. The paragraph is what the design
/// randomised (its probes share its injection steps, batches and learning rates), so each draw
/// resamples paragraphs with replacement within each scenario and within the never-injected
/// control, with all their probes, and recomputes every estimate; decay constants and
/// x-intercepts refit the whole curve on each draw. One set of draws serves every run and kind,
/// so differences between them are paired. The draws are stretched about the estimate by
/// √(n/(n−1))·t(n−1)/z for the smallest stratum's n paragraphs (1.29 at 8), the small-sample
/// correction without which a percentile interval over 8 paragraphs covers about 89 %.
/// draws.parquet keeps every draw, for `plot findings` to combine seeds.
///
/// Choices where the paper is silent or ambiguous, and where this default differs from the
/// authors' released analysis (`--analysis authors` follows theirs):
/// - t_pre of R is the paragraph's own first injection step (authors: v[0], the first
///   evaluation). The paper injects every paragraph at t = 0, where the two agree; a miniature
///   that spreads a round over several steps would otherwise count the shared rise before a
///   paragraph's first injection as its gain.
/// - R between evaluated steps is interpolated linearly, so sparse (log-spaced) evaluation
///   schedules give R on one t grid (authors: R only where LAM + t was evaluated; they evaluate
///   every step).
/// - R uses one t range for every probe of a group, up to the largest t every probe reaches, so
///   that no t averages a shrinking subset (as the authors do; kept).
/// - effectivity is not outlier-filtered (authors: the IQR filter, factor 2.0, on it too): with
///   5 probes a paragraph, the filter would drop probes, not paragraphs, and the intervals
///   resample paragraphs. R is filtered per scenario × kind × t (factor 1.5 as the paper states;
///   the authors' code: 2.0, give `--iqr-factor 2`).
/// - the decay fit uses log10 t over every t ≥ 1 with an evaluation.
#[derive(Parser)]
#[command(
    name = "fit",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "\
Example:
  fit --logprobs results/early/logprobs.parquet results/late/logprobs.parquet \\
      --injections results/shards-cont/injections.parquet \\
      --manifest results/shards-cont/shards/manifest.json --step-offset 250 -o results/fit

Continuation shards made with `inject --after` start at the base run's last step + 1 (here 250)
while `train --reset-step` counts t from 0; --step-offset puts the two on one numbering.

`fit linear-probe` fits linear probes on hidden states instead (Physics of LMs 3.1)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    effectivity: EffectivityArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Linear probes on frozen hidden states (Allen-Zhu & Li, Physics of LMs 3.1 §6): for each
    /// layer and position of `probe hidden`'s output and each attribute, a linear classifier
    /// fitted on P_train people and scored on P_test people (the `split` of people.parquet).
    /// Writes linear-probe.parquet and linear-probe.md (accuracy per position and attribute,
    /// beside the majority baseline).
    ///
    /// Choices: the classifier is ridge regression onto one-hot labels in closed form (features
    /// standardised on the training people, a bias, penalty --ridge), not the paper's softmax
    /// probe trained by gradient descent with a rank-2 embedding update: no learning rate or
    /// step count to choose, and the same bits on every run. birth_date is predicted by its
    /// month (the paper probes its first token, the month); the other attributes as whole
    /// values.
    #[command(after_help = "\
Examples:
  probe hidden --checkpoint runs/bios/checkpoints/latest --tokenizer runs/bios/tokenizer.json \\
      --bios bios.parquet -o hidden-p.parquet
  fit linear-probe --hidden hidden-p.parquet --people people.parquet -o results/p-probe")]
    LinearProbe {
        /// hidden.parquet written by `probe hidden`.
        #[arg(long)]
        hidden: PathBuf,
        /// people.parquet of the same `gen-facts bios` run (labels and splits).
        #[arg(long)]
        people: PathBuf,
        /// Ridge penalty λ on standardised features; several, comma-separated, are candidates:
        /// each probe takes the one that scores best on the `validation` people when fitted on
        /// the `train` people, then is refitted on both.
        #[arg(long, default_value = "0.01", value_delimiter = ',', value_parser = positive_f64())]
        ridge: Vec<f64>,
        /// Output folder.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        verbosity: Verbosity,
    },
    /// Multiple-choice accuracy per condition and test split (Lampinen et al. 2025): for each
    /// option-scores file written by `probe score` (one per condition: a model before and after
    /// finetuning, a served model in context, ...), the share of questions whose
    /// highest-likelihood option is right, per `split`, with its Wilson 95 % interval over the
    /// split's questions (not the paper's standard error over `subset`s: a split may have only
    /// two) and the chance level (mean of 1 / options). Writes choice-accuracy.parquet and
    /// choice-accuracy.md.
    #[command(after_help = "\
Example:
  fit choice-accuracy --scores base.parquet finetuned.parquet icl.parquet \\
      --conditions pretrained,finetuned,icl -o results/lampinen")]
    ChoiceAccuracy {
        /// option-scores.parquet of each condition.
        #[arg(long, required = true, num_args = 1..)]
        scores: Vec<PathBuf>,
        /// The conditions' names, comma-separated, in the same order.
        #[arg(long, value_delimiter = ',', required = true)]
        conditions: Vec<String>,
        /// Output folder.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        verbosity: Verbosity,
    },
}

#[derive(Args)]
struct EffectivityArgs {
    /// logprobs.parquet files written by `train` (required).
    #[arg(long, num_args = 1..)]
    logprobs: Vec<PathBuf>,
    /// injections.parquet written by `inject` (required).
    #[arg(long)]
    injections: Option<PathBuf>,
    /// Shard manifest of the continuation run: gives tokens per step for x-intercepts in tokens.
    #[arg(long, conflicts_with = "tokens_per_step")]
    manifest: Option<PathBuf>,
    /// Tokens per step (batch × sequence length) when no manifest is given.
    #[arg(long, default_value_t = 1.0, value_parser = positive_f64())]
    tokens_per_step: f64,
    /// Window t_w after each injection for the local acquisition maximum (paper: 50; 1 to
    /// 100,000,000).
    #[arg(long, default_value_t = 50, value_parser = bounds::window())]
    window: u32,
    /// IQR factor of the outlier filter on retainability, and on effectivity with
    /// `--analysis authors` (at least 0; the authors' code: 2.0).
    #[arg(long, default_value_t = 1.5, value_parser = bounds::iqr_factor())]
    iqr_factor: f64,
    /// Whose analysis to follow where factlab's and the authors' released code differ (see
    /// above): `factlab` or `authors`.
    #[arg(long, value_enum, default_value_t = fit::Analysis::Factlab)]
    analysis: fit::Analysis,
    /// Paragraph-bootstrap draws behind every interval (at least 100).
    #[arg(long, default_value_t = 1000, value_parser = bounds::bootstrap())]
    bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Subtracted from injection steps so they count like the logprobs' steps.
    #[arg(long, default_value_t = 0, value_parser = steps())]
    step_offset: u32,
    /// Output folder (required).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> Result<()> {
    let cli: Cli = factlab_cli::parse();
    if let Some(Command::ChoiceAccuracy {
        scores,
        conditions,
        output,
        verbosity,
    }) = cli.command
    {
        verbosity.init_logging();
        let rows = fit::run_choice_accuracy(&ChoiceAccuracyOptions {
            scores,
            conditions,
            output: output.clone(),
        })?;
        tracing::info!(
            "{} accuracies written to {}",
            rows.len(),
            output.join(fit::CHOICE_ACCURACY_TABLE).display()
        );
        return Ok(());
    }
    if let Some(Command::LinearProbe {
        hidden,
        people,
        ridge,
        output,
        verbosity,
    }) = cli.command
    {
        verbosity.init_logging();
        let rows = fit::run_linear_probes(&LinearProbeOptions {
            hidden,
            people,
            ridges: ridge,
            output: output.clone(),
        })?;
        tracing::info!(
            "{} probes written to {}",
            rows.len(),
            output.join(fit::LINEAR_PROBE_TABLE).display()
        );
        return Ok(());
    }
    let cli = cli.effectivity;
    // Required without a subcommand only; clap's own check would also demand them of
    // `fit linear-probe`.
    let (Some(injections), Some(output), false) =
        (cli.injections, cli.output, cli.logprobs.is_empty())
    else {
        Cli::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "--logprobs, --injections and --output are required (or a subcommand: \
                 linear-probe)",
            )
            .exit();
    };
    cli.verbosity.init_logging();
    let tokens_per_step = match &cli.manifest {
        Some(path) => FitOptions::tokens_per_step_from(path)?,
        None => cli.tokens_per_step,
    };
    let options = FitOptions {
        logprobs: cli.logprobs,
        injections,
        window: cli.window,
        iqr_factor: cli.iqr_factor,
        analysis: cli.analysis,
        bootstrap: cli.bootstrap,
        seed: cli.seed,
        tokens_per_step,
        step_offset: cli.step_offset,
        output,
    };
    let fitted = fit::run(&options)?;
    tracing::info!(
        "{} effectivity groups, {} decay fits written to {}",
        fitted.effectivity.len(),
        fitted.decay.len(),
        options.output.display()
    );
    Ok(())
}
