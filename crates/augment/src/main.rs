use std::path::PathBuf;

use anyhow::Result;
use augment::{Backend, Options, SamplingSettings, Split, Strategy, Wording};
use clap::Parser;
use std::ops::Bound::{Excluded, Included};

use factlab_cli::{finite_f64_in, positive, Verbosity};
use factlab_served::ServedArgs;

/// Augment finetuning documents with inferences: the inputs pass through and the augmentations
/// follow (Lampinen et al. 2025 §3).
#[derive(Parser)]
#[command(
    name = "augment",
    version,
    about,
    after_help = "\
The output has a `text` column, so it is also a corpus for `inject -c`. Served requests are
cached (--cache; by default OUTPUT.requests.jsonl): rerun the same command after an
interruption and only requests never answered are sent. The same inputs, seed and replies give
a byte-identical output.

Examples:
  augment -i knowledge.parquet -o augmented.parquet --strategy local,global \\
        --endpoint http://127.0.0.1:8731 --model smollm2
  augment -i knowledge.parquet -o augmented.parquet --backend rules --strategy local,global \\
        --split independent
  augment -i knowledge.parquet -o para.parquet --strategy paraphrase --paraphrases 9 \\
        --endpoint http://127.0.0.1:8000 --model Qwen/Qwen2.5-7B-Instruct --concurrency 16
  augment -i bios.parquet --people people.parquet -o bior.parquet --strategy rewrite-bio \\
        --endpoint http://127.0.0.1:8731 --model smollm2 --max-attempts 6
  gen-facts reversals -o - | augment -i - -o aug.parquet --backend rules --strategy local
  augment -i knowledge.parquet -o reworded.parquet --backend rules --wording disjoint \\
        --strategy local,global"
)]
struct Cli {
    /// Knowledge Parquet (`-` for stdin); for rewrite-bio, the bios Parquet.
    #[arg(short, long, value_name = "FILE")]
    input: PathBuf,
    /// Augmented Parquet to write (`-` for stdout).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Augmentations to add, comma-separated, in this order.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    strategy: Vec<Strategy>,
    #[arg(long, value_enum, default_value_t = Backend::Served)]
    backend: Backend,
    /// Sentence splitting of every output document, originals included: `independent` gives one
    /// row per sentence, `cumulative` one per sentence after its document's preceding ones.
    #[arg(long, value_enum, default_value_t = Split::None)]
    split: Split,
    /// Seeds the request seeds, the rules backend's choices and the global context samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Paraphrases per document (strategy paraphrase; 1 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = positive::<u32>().at_most(1_000))]
    paraphrases: u32,
    /// Rewrites per biography entry (strategy rewrite-bio; 1 to 1,000).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = positive::<u32>().at_most(1_000))]
    rewrites: u32,
    /// People Parquet of the biographies (strategy rewrite-bio).
    #[arg(long, value_name = "FILE")]
    people: Option<PathBuf>,
    /// Requests per piece of work before it is reported as rejected: a reply is rejected when
    /// it is empty or, for rewrite-bio, lacks an attribute value.
    #[arg(long, default_value_t = 4, value_parser = positive::<u32>().at_most(1_000))]
    max_attempts: u32,
    /// Context size for strategy global (tokens estimated as bytes / 4): the other documents are
    /// a seeded sample when they do not all fit.
    #[arg(long, value_name = "TOKENS", default_value_t = 32768,
          value_parser = positive::<usize>().at_most(1 << 24))]
    context_tokens: usize,
    /// Sampling temperature, 0 to 2 (the OpenAI API's range).
    #[arg(long, default_value_t = 0.7, value_parser = finite_f64_in(0.0..=2.0))]
    temperature: f64,
    /// Nucleus sampling mass, above 0 and at most 1.
    #[arg(long, default_value_t = 0.95,
          value_parser = finite_f64_in((Excluded(0.0), Included(1.0))))]
    top_p: f64,
    /// The most tokens of one reply.
    #[arg(long, default_value_t = 512, value_parser = positive::<u32>().at_most(1 << 20))]
    max_tokens: u32,
    /// Wording of the rules backend's derived facts. `test`: the relations file's `templates`,
    /// the datasets' own words, so the right test options appear verbatim and the result is a
    /// recall upper bound (the pipeline's `augmented-rules`). `disjoint` (the default): only its
    /// `reworded` templates, which no document or test uses (the pipeline's
    /// `augmented-reworded`). The default is `disjoint` so that an oracle which hands the model
    /// the tests' sentences is only ever asked for by name.
    #[arg(long, value_enum, default_value_t = Wording::Disjoint)]
    wording: Wording,
    /// Relations file of the rules backend.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "data/lampinen/relations.toml"
    )]
    relations: PathBuf,
    /// Folder of the prompt files (local.toml, global.toml, paraphrase.toml, rewrite-bio.toml).
    #[arg(long, value_name = "DIR", default_value = "data/augment")]
    prompts: PathBuf,
    #[command(flatten)]
    served: ServedArgs,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> Result<()> {
    let cli: Cli = factlab_cli::parse();
    cli.verbosity.init_logging();
    let served = match cli.backend {
        Backend::Served => {
            let mut args = cli.served.clone();
            if args.cache.is_none() {
                if cli.output.as_os_str() == "-" {
                    tracing::warn!("no --cache with -o -: a rerun sends every request again");
                } else {
                    let mut name = cli.output.clone().into_os_string();
                    name.push(".requests.jsonl");
                    args.cache = Some(name.into());
                }
            }
            Some(args.config()?)
        }
        Backend::Rules => None,
    };
    let bar = cli.verbosity.progress(0, "requests");
    let summary = augment::run(
        &Options {
            input: cli.input,
            output: cli.output,
            strategies: cli.strategy,
            backend: cli.backend,
            split: cli.split,
            seed: cli.seed,
            relations: cli.relations,
            wording: cli.wording,
            prompts: cli.prompts,
            people: cli.people,
            paraphrases: cli.paraphrases,
            rewrites: cli.rewrites,
            max_attempts: cli.max_attempts,
            context_tokens: cli.context_tokens,
            sampling: SamplingSettings {
                temperature: cli.temperature,
                top_p: cli.top_p,
                max_tokens: cli.max_tokens,
            },
            served,
        },
        &bar,
    )?;
    bar.finish_and_clear();
    tracing::info!("augment: {}", summary.line());
    Ok(())
}
