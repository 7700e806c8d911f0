use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use factlab_cli::Verbosity;
use fit::FitOptions;

/// Effectivity, retainability and decay constants (Chang et al. 2024 §4).
///
/// Reads one or more logprobs files (runs told apart by `run_id`) and the injections of the
/// shards they were trained on. Writes effectivity.parquet, retention.parquet, decay.parquet,
/// trajectory.parquet and a Markdown summary fit.md into the output folder.
///
/// Choices where the paper is silent or ambiguous: R is filtered for outliers per scenario ×
/// kind × t over probes (factor 1.5 as the paper states; the authors' released analysis used
/// 2.0); R between evaluated steps is interpolated linearly, so sparse (log-spaced) evaluation
/// schedules work; the decay fit uses log10 t over every t ≥ 1 with an evaluation.
#[derive(Parser)]
#[command(
    name = "fit",
    version,
    after_help = "\
Example:
  fit --logprobs results/early/logprobs.parquet results/late/logprobs.parquet \\
      --injections results/shards-cont/injections.parquet \\
      --manifest results/shards-cont/shards/manifest.json --step-offset 250 -o results/fit

Continuation shards made with `inject --after` start at the base run's last step + 1 (here 250)
while `train --reset-step` counts t from 0; --step-offset puts the two on one numbering."
)]
struct Cli {
    /// logprobs.parquet files written by `train`.
    #[arg(long, required = true, num_args = 1..)]
    logprobs: Vec<PathBuf>,
    /// injections.parquet written by `inject`.
    #[arg(long)]
    injections: PathBuf,
    /// Shard manifest of the continuation run: gives tokens per step for x-intercepts in tokens.
    #[arg(long, conflicts_with = "tokens_per_step")]
    manifest: Option<PathBuf>,
    /// Tokens per step (batch × sequence length) when no manifest is given.
    #[arg(long, default_value_t = 1.0)]
    tokens_per_step: f64,
    /// Window t_w after each injection for the local acquisition maximum (paper: 50).
    #[arg(long, default_value_t = 50)]
    window: u32,
    /// IQR factor of the outlier filter on retainability.
    #[arg(long, default_value_t = 1.5)]
    iqr_factor: f64,
    /// Bootstrap resamples for the effectivity intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Subtracted from injection steps so they count like the logprobs' steps.
    #[arg(long, default_value_t = 0)]
    step_offset: u32,
    /// Output folder.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    cli.verbosity.init_logging();
    let tokens_per_step = match &cli.manifest {
        Some(path) => FitOptions::tokens_per_step_from(path)?,
        None => cli.tokens_per_step,
    };
    let options = FitOptions {
        logprobs: cli.logprobs,
        injections: cli.injections,
        window: cli.window,
        iqr_factor: cli.iqr_factor,
        bootstrap: cli.bootstrap,
        seed: cli.seed,
        tokens_per_step,
        step_offset: cli.step_offset,
        output: cli.output,
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
