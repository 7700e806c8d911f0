use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use factlab_cli::{positive, IntRange, Verbosity};
use factlab_served::ServedArgs;
use probe::{
    GenerateOptions, HiddenInput, HiddenOptions, InContextOptions, LayerSpec, ModelSource,
    PositionSpec, ScoreOptions, ScoreSummary, Split,
};

/// Read what a trained model knows: QA answers, hidden states, option likelihoods.
#[derive(Parser)]
#[command(
    name = "probe",
    version,
    about,
    after_help = "\
Every input starts with the end-of-text token, as every training document does.

Examples:
  probe generate --checkpoint runs/bios --tokenizer data/tokenizer.json --qa qa.parquet -o answers.parquet --table qa.md
  probe hidden --checkpoint runs/bios --tokenizer data/tokenizer.json --bios bios.parquet --layers 0,last -o hidden.parquet
  probe hidden --checkpoint runs/bios --tokenizer data/tokenizer.json --people people.parquet -o q-hidden.parquet
  probe score --checkpoint runs/bios/checkpoints/step-002000 --tokenizer data/tokenizer.json --options options.parquet -o scores.parquet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: Verbosity,
}

#[derive(Args)]
struct ModelArgs {
    /// Checkpoint folder (…/checkpoints/step-NNNNNN), or a run folder or its checkpoints/
    /// folder for the latest checkpoint.
    #[arg(long, value_name = "DIR")]
    checkpoint: PathBuf,
    /// The tokenizer.json the model was trained with (inject's OUT/tokenizer.json).
    #[arg(long, value_name = "FILE")]
    tokenizer: PathBuf,
    /// cpu, cuda or cuda:N (cuda needs a build with the cuda feature).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Inputs per forward pass.
    #[arg(long, default_value_t = 64, value_parser = tokens())]
    batch_size: usize,
}

impl From<ModelArgs> for ModelSource {
    fn from(args: ModelArgs) -> Self {
        ModelSource {
            checkpoint: args.checkpoint,
            tokenizer: args.tokenizer,
            device: args.device,
            batch_size: args.batch_size,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Greedy answers to QA prompts (`question + " Answer:"`), scored by exact match of the
    /// whole attribute (Allen-Zhu & Li, Physics of LMs 3.1 §4), with first-token accuracy.
    ///
    /// Generation stops at end-of-text, at a token holding a newline, or after
    /// --max-new-tokens; the answer is the text before the first newline, trimmed. Prints the
    /// accuracy per attribute on stderr.
    #[command(after_help = "\
Examples:
  probe generate --checkpoint runs/bios --tokenizer data/tokenizer.json --qa qa.parquet -o answers.parquet
  probe generate --checkpoint runs/bios/checkpoints/step-001000 --tokenizer data/tokenizer.json \\
        --qa qa.parquet --split train --table results/qa-train.md -o - > answers-train.parquet")]
    Generate {
        #[command(flatten)]
        model: ModelArgs,
        /// QA pairs (qa.parquet from `gen-facts bios`; `-` for stdin).
        #[arg(long, value_name = "FILE")]
        qa: PathBuf,
        /// Whose questions: P_test, P_train or everyone.
        #[arg(long, value_enum, default_value_t = Split::Test)]
        split: Split,
        #[arg(long, default_value_t = 32, value_parser = tokens())]
        max_new_tokens: usize,
        /// Answers Parquet to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Also write the accuracy table as Markdown here.
        #[arg(long, value_name = "FILE.md")]
        table: Option<PathBuf>,
    },
    /// Hidden states (the residual stream before the final norm) of chosen layers at chosen
    /// tokens, for linear probes (Allen-Zhu & Li, Physics of LMs 3.1 §6).
    ///
    /// With --bios (P-probing) the input is the end-of-text token and the entry's text, read by
    /// default at the six tokens just before each attribute value (the token whose next-token
    /// prediction is the value's first token). With --people (Q-probing) the input is
    /// end-of-text, the full name and end-of-text again, read at the last token
    /// (`name_end`).
    #[command(after_help = "\
Examples:
  probe hidden --checkpoint runs/bios --tokenizer data/tokenizer.json --bios bios.parquet -o hidden.parquet
  probe hidden --checkpoint runs/bios --tokenizer data/tokenizer.json --bios bios.parquet --limit 2000 \\
        --positions attributes,index:1 --layers 0,4,last -o hidden.parquet
  probe hidden --checkpoint runs/bios --tokenizer data/tokenizer.json --people people.parquet -o q-hidden.parquet")]
    Hidden {
        #[command(flatten)]
        model: ModelArgs,
        /// Biography entries (bios.parquet; `-` for stdin): P-probing.
        #[arg(long, value_name = "FILE", required_unless_present = "people")]
        bios: Option<PathBuf>,
        /// People (people.parquet; `-` for stdin): Q-probing on the full name.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["bios", "positions"])]
        people: Option<PathBuf>,
        /// With --bios, the tokens to read: `attributes` (the token before each attribute
        /// value) and/or `index:K` (token K, the leading end-of-text token being 0),
        /// comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "attributes")]
        positions: Vec<PositionSpec>,
        /// Only the first N rows of the input.
        #[arg(long, value_name = "N", value_parser = positive::<usize>())]
        limit: Option<usize>,
        /// Layers, comma-separated: 0 is the embedding's output, L the output of block L,
        /// `last` the final block's.
        #[arg(long, value_delimiter = ',', default_value = "last")]
        layers: Vec<LayerSpec>,
        /// Hidden states Parquet to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// The log-likelihood of the options of multiple-choice questions: each option's
    /// completion after its prompt (tokenized separately, after the end-of-text token); the
    /// option with the highest sum is its question's choice (ties: the first in the file).
    #[command(after_help = "\
The options file has columns question_id, option_id, prompt, completion (scored as written, a
leading space included) and correct (0 or 1); see schemas/options.toml.

Examples:
  probe score --checkpoint runs/bios --tokenizer data/tokenizer.json --options options.parquet -o scores.parquet")]
    Score {
        #[command(flatten)]
        model: ModelArgs,
        /// Options Parquet (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        options: PathBuf,
        /// Option scores Parquet to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// In-context learning (Lampinen et al. 2025): the options scored by a served model with
    /// training documents in its prompt, through an OpenAI-compatible /v1/completions endpoint
    /// that echoes the prompt's token log-probabilities (llama.cpp's server and vLLM do).
    ///
    /// Each option is sent as INSTRUCTION, a blank line, the documents (one per line), a blank
    /// line, then the option's prompt and completion; the completion's tokens are summed. The
    /// option with the highest sum is its question's choice, as in `probe score`, and the output
    /// is the same option-scores file. Without --context the model sees the question alone
    /// (the paper's unexposed control).
    ///
    /// Choice where the paper differs: the paper puts the whole training set in a 1M-token
    /// context (subsampled 8× on the largest set). A small served model has a few thousand
    /// tokens, so each question gets the documents that share its rarest words (tf-idf over
    /// the context file), best first, as many as fit --context-tokens (bytes / 4).
    #[command(after_help = "\
Examples:
  probe score-in-context --endpoint http://127.0.0.1:8731 --model smollm2-135m \\
        --options options.parquet --context knowledge.parquet -o icl-scores.parquet
  probe score-in-context --endpoint http://127.0.0.1:8731 --model smollm2-135m \\
        --bos-prefix '<|im_start|>' --cache icl-cache.jsonl --options options.parquet -o unexposed.parquet

llama.cpp's server shifts echoed prompt log-probabilities by one token for models that add no
begin-of-text token (SmolLM2, Qwen2.5); --bos-prefix with the model's marker fixes it.")]
    ScoreInContext {
        #[command(flatten)]
        served: ServedArgs,
        /// Options Parquet (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        options: PathBuf,
        /// Documents to put in context: any Parquet with a `text` column (knowledge.parquet,
        /// augment's output).
        #[arg(long, value_name = "FILE")]
        context: Option<PathBuf>,
        /// Documents per prompt, in estimated tokens (bytes / 4).
        #[arg(long, default_value_t = 1024, value_parser = tokens())]
        context_tokens: usize,
        #[arg(
            long,
            default_value = "Use the facts in the following documents to answer."
        )]
        instruction: String,
        /// Text sent before every prompt and not scored (the model's begin-of-text marker).
        #[arg(long, default_value = "")]
        bos_prefix: String,
        /// Score a seeded sample of at most N questions per split (a served model on a CPU
        /// answers about one option a second).
        #[arg(long, value_name = "N", value_parser = positive::<usize>())]
        questions_per_split: Option<usize>,
        /// Seeds the question sample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Option scores Parquet to write (`-` for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// A batch or a number of tokens: at least 1 (0 would answer nothing or batch nothing), at most
/// 2²⁴ (far beyond any model here; a mistyped number fails at once instead of exhausting memory).
fn tokens() -> IntRange<usize> {
    positive::<usize>().at_most(1 << 24)
}

fn main() -> Result<()> {
    factlab_model::prepare_cpu_runtime();
    let cli: Cli = factlab_cli::parse();
    cli.verbosity.init_logging();
    match cli.command {
        Command::Generate {
            model,
            qa,
            split,
            max_new_tokens,
            output,
            table,
        } => {
            let bar = cli.verbosity.progress(0, "questions");
            let summary = probe::generate(
                &GenerateOptions {
                    model: model.into(),
                    qa,
                    split,
                    max_new_tokens,
                    output,
                    table,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            if !cli.verbosity.quiet {
                eprint!("\n{}\n", summary.table);
            }
            tracing::info!(
                "answered {} questions, {} exactly",
                summary.questions,
                summary.exact_matches
            );
        }
        Command::Hidden {
            model,
            bios,
            people,
            positions,
            limit,
            layers,
            output,
        } => {
            let input = match (bios, people) {
                (Some(path), None) => HiddenInput::Bios { path, positions },
                (None, Some(path)) => HiddenInput::People { path },
                _ => unreachable!("clap requires exactly one of --bios and --people"),
            };
            let bar = cli.verbosity.progress(0, "inputs");
            let summary = probe::hidden(
                &HiddenOptions {
                    model: model.into(),
                    input,
                    limit,
                    layers,
                    output,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            tracing::info!(
                "wrote {} hidden states of {} floats ({} inputs, layers {:?})",
                summary.rows,
                summary.width,
                summary.inputs,
                summary.layers
            );
        }
        Command::Score {
            model,
            options,
            output,
        } => {
            let bar = cli.verbosity.progress(0, "options");
            let summary = probe::score(
                &ScoreOptions {
                    model: model.into(),
                    options,
                    output,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            report_choices(&summary);
        }
        Command::ScoreInContext {
            served,
            options,
            context,
            context_tokens,
            instruction,
            bos_prefix,
            questions_per_split,
            seed,
            output,
        } => {
            let bar = cli.verbosity.progress(0, "options");
            let summary = probe::score_in_context(
                &InContextOptions {
                    served: served.config()?,
                    options,
                    context,
                    context_tokens,
                    instruction,
                    bos_prefix,
                    questions_per_split,
                    seed,
                    output,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            report_choices(&summary);
        }
    }
    Ok(())
}

fn report_choices(summary: &ScoreSummary) {
    tracing::info!(
        "scored {} options of {} questions; the chosen option is correct for {} ({:.1} %)",
        summary.options,
        summary.questions,
        summary.right,
        100.0 * summary.right as f64 / summary.questions.max(1) as f64
    );
}
