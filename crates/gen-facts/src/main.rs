mod lampinen_cli;

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand, ValueEnum};
use factlab_cli::{int_in, ordered_pair, positive, Verbosity};
use gen_facts::{
    generate_background, generate_bios, generate_fictional, import_fictional_knowledge,
    BackgroundGrammar, BackgroundOptions, BiosOptions, CorpusSize, DateStyle, FictionalOptions,
    FictionalSummary, ImportOptions, ParagraphShape, PronounRule, SentenceOrder, Variant,
};

/// Generate the knowledge to inject and the corpus to inject it into.
#[derive(Parser)]
#[command(
    name = "gen-facts",
    version,
    about,
    after_help = "\
Examples:
  gen-facts fictional -n 120 --seed 1 -o knowledge.parquet --probes probes.parquet
  gen-facts background --tokens 2000000 --seed 1 -o corpus.parquet
  gen-facts import-fictional-knowledge fictional_knowledge.json -o knowledge.parquet --probes probes.parquet
  gen-facts bios -n 100000 --variant multi5+permute -o bios.parquet --people people.parquet --qa qa.parquet
  gen-facts semantic -n 2200 -o semantic.parquet --options semantic-options.parquet
  gen-facts background --documents 2000 -o - | inject -c - -o runs/pre --steps 50   (`-` is stdout)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: Verbosity,
}

#[derive(Subcommand)]
enum Command {
    /// Wikipedia-style paragraphs about invented entities (countries, organisations, people,
    /// species, inventions), as in Chang et al. 2024: each ≥ 20 sentences of 250–500 words, every
    /// sentence naming its entity and ending in a named entity, no pronouns; per paragraph 9
    /// paraphrases and 5 memorization, 5 semantic and 5 composition probes.
    Fictional {
        /// Number of paragraphs (the paper uses 120; at most 1,000,000).
        #[arg(short = 'n', long, default_value_t = 120,
              value_parser = positive::<u32>().at_most(limits::PARAGRAPHS))]
        count: u32,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Knowledge Parquet to write (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// Probes Parquet to write; no probes are written without it.
        #[arg(long)]
        probes: Option<PathBuf>,
        /// Paraphrases per paragraph (at most 1,000).
        #[arg(long, default_value_t = 9, value_parser = int_in(0..=limits::PARAPHRASES))]
        paraphrases: usize,
        /// Sentences a paragraph has at least (the paper: more than 20). Smaller values with a
        /// smaller --words make paragraphs that fit the short rows of CPU presets.
        #[arg(long, default_value_t = 20, value_parser = int_in(0..=limits::WORDS))]
        min_sentences: usize,
        /// A paragraph stops growing past a word count drawn from LOW,HIGH (LOW ≤ HIGH).
        #[arg(long, default_value = "270,420",
              value_parser = ordered_pair(int_in(0..=limits::WORDS)))]
        words: [usize; 2],
        /// Folder with names.toml and relations.toml replacing the bundled data/fictional files.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// A background pretraining corpus: documents about other invented entities (names from the
    /// other half of the name space, so none is shared with `fictional`), with a `text` column —
    /// the schema a user's own corpus must have.
    ///
    /// By default the documents are written with their own grammar (data/background/), which
    /// shares no run of three words with any template the knowledge paragraphs and probes are
    /// worded with. Pretraining on the probes' own templates would make every probe's wording
    /// familiar before any fact is injected, so the experiment would measure familiarity with
    /// the template rather than acquisition of the fact. `--grammar knowledge` keeps that
    /// overlap on purpose, for a sweep that compares the two.
    #[command(after_help = "\
Examples:
  gen-facts background --tokens 2000000 --seed 1 -o corpus.parquet
  gen-facts background --tokens 2000000 --seed 1 --grammar knowledge -o corpus-overlap.parquet
  gen-facts background --documents 500 --grammar-data my-grammar/ -o corpus.parquet")]
    Background {
        /// Number of documents (at most 10⁹).
        #[arg(long, conflicts_with = "tokens", required_unless_present = "tokens",
              value_parser = positive::<u64>().at_most(limits::DOCUMENTS))]
        documents: Option<u64>,
        /// Approximate size in tokens, counted as bytes / 4 (at most 10¹²).
        #[arg(long, value_parser = positive::<u64>().at_most(limits::TOKENS))]
        tokens: Option<u64>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Which sentences the documents are written with.
        #[arg(long, value_enum, default_value_t = Grammar::Disjoint)]
        grammar: Grammar,
        /// Corpus Parquet to write (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// Folder with names.toml and relations.toml replacing the bundled data/fictional files.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Folder with grammar.toml and vocabulary.toml replacing the bundled data/background
        /// files (used by `--grammar disjoint`).
        #[arg(long)]
        grammar_data: Option<PathBuf>,
    },
    /// Synthetic biographies (bioS) as in Allen-Zhu & Li, Physics of LMs 3.1: people with a
    /// unique full name and six attributes (birth date, birth city, university, major, employer,
    /// and the employer's city) drawn uniformly from the pools in data/bios/pools/, written as
    /// six template sentences (data/bios/templates.toml), the full name opening the first and a
    /// pronoun the others.
    ///
    /// Writes the entries (a `text` column, globally shuffled so that packing them in order
    /// never puts one person's entries in one window; each attribute's byte span alongside),
    /// the people, and six question–answer pairs per person. The first --train-fraction of the
    /// people are P_train (their QA is finetuning data), the rest P_test; the last
    /// --validation-fraction of P_train are the validation split instead. With --celebrities N,
    /// N more people get --celebrity-variant biographies and are the QA-trained group, and the
    /// main group (the minority) is tested (the paper's Figure 8).
    ///
    /// Choices where the paper is unclear: the pronoun rule (--pronouns); in +fullname variants
    /// possessives become the name's possessive too ("Ada Lee Moss's"), since every pronoun is
    /// replaced; the QA text is `question + " Answer:"` then `" " + answer`.
    #[command(after_help = "\
Variants (the paper's 16): single, single+fullname, single+permute1|2|5[+fullname],
  multi2|5, multi2|5+permute, multi2|5+fullname, multi2|5+permute+fullname.

Examples:
  gen-facts bios -n 100000 --variant single -o bios.parquet --people people.parquet --qa qa.parquet
  gen-facts bios -n 2000 --variant multi5+permute --seed 3 -o bios.parquet --qa qa.parquet
  gen-facts bios -n 100000 --variant single+permute1 --celebrities 100000 -o bios.parquet --qa qa.parquet
  gen-facts bios -n 500 --pronouns parity --order birth_date,birth_city,university,major,company_city,employer -o bios.parquet")]
    Bios {
        /// People in the main group (the paper: 100,000; at most 10,000,000).
        #[arg(short = 'n', long, default_value_t = 100_000,
              value_parser = int_in(0..=limits::PEOPLE))]
        count: u32,
        /// Knowledge augmentation of the main group's biographies.
        #[arg(long, default_value = "single")]
        variant: Variant,
        /// Extra people whose biographies use --celebrity-variant and whose QA is the
        /// finetuning data; the main group becomes the tested minority.
        #[arg(long, default_value_t = 0, value_parser = int_in(0..=limits::PEOPLE))]
        celebrities: u32,
        #[arg(long, default_value = "multi5+permute")]
        celebrity_variant: Variant,
        /// Share of the main group in P_train (without celebrities), from 0 to 1.
        #[arg(long, default_value_t = 0.5, value_parser = factlab_cli::finite_f64_in(0.0..=1.0))]
        train_fraction: f64,
        /// Share of P_train held out as the `validation` split, from 0 to 1 (without
        /// celebrities): its QA is not finetuned on, so learning rates and probe penalties are
        /// chosen on it, never on P_test.
        #[arg(long, default_value_t = 0.0, value_parser = factlab_cli::finite_f64_in(0.0..=1.0))]
        validation_fraction: f64,
        /// Who "he"/"she"/"they" is: random he/she/they per person (Part 3.1's text), random
        /// he/she (Part 3.3), or he/she by id parity (the authors' released generator).
        #[arg(long, value_enum, default_value_t = Pronouns::HeSheThey)]
        pronouns: Pronouns,
        /// Sentence order of unpermuted entries: all six attributes, comma-separated.
        #[arg(
            long,
            default_value = "birth_date,birth_city,university,major,employer,company_city"
        )]
        order: SentenceOrder,
        /// "March 7, 1952" (the paper's) or "7 of March, 1952".
        #[arg(long, value_enum, default_value_t = DateFormat::MonthDayYear)]
        date_style: DateFormat,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Biography entries Parquet to write (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// People Parquet to write.
        #[arg(long)]
        people: Option<PathBuf>,
        /// Question–answer Parquet to write.
        #[arg(long)]
        qa: Option<PathBuf>,
        /// Folder laid out like data/bios/ (pools/*.txt, templates.toml) replacing the bundled one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    Reversals(lampinen_cli::ReversalsArgs),
    Syllogisms(lampinen_cli::SyllogismsArgs),
    Semantic(lampinen_cli::SemanticArgs),
    /// Convert the public Fictional Knowledge release (a JSON list of objects with
    /// `train_context`, `mem_input`/`mem_target`, `gen_input`/`gen_target`,
    /// `hard_gen_input`/`hard_gen_target` and optional `paraphrases`) into the same artifacts.
    ImportFictionalKnowledge {
        /// The release's JSON file (`-` for stdin).
        input: PathBuf,
        /// Knowledge Parquet to write (`-` for stdout).
        #[arg(short, long)]
        output: PathBuf,
        /// Probes Parquet to write.
        #[arg(long)]
        probes: Option<PathBuf>,
    },
}

/// Upper bounds of the counts: far above any experiment, low enough that a mistyped number
/// fails at once instead of running until killed.
mod limits {
    pub const PARAGRAPHS: u32 = 1_000_000;
    pub const PARAPHRASES: usize = 1_000;
    /// Sentences and words of a paragraph (a paragraph ends anyway when its entity's relations
    /// run out).
    pub const WORDS: usize = 100_000;
    pub const DOCUMENTS: u64 = 1_000_000_000;
    pub const TOKENS: u64 = 1_000_000_000_000;
    pub const PEOPLE: u32 = 10_000_000;
}

#[derive(Clone, Copy, ValueEnum)]
enum Pronouns {
    HeSheThey,
    HeShe,
    Parity,
}

#[derive(Clone, Copy, ValueEnum)]
enum DateFormat {
    MonthDayYear,
    DayOfMonth,
}

#[derive(Clone, Copy, ValueEnum)]
enum Grammar {
    /// Own sentence frames and vocabulary (data/background/); no probe wording.
    Disjoint,
    /// The knowledge paragraphs' templates (data/fictional/relations.toml): every probe's
    /// wording occurs in the corpus.
    Knowledge,
}

fn main() -> Result<()> {
    let cli: Cli = factlab_cli::parse();
    cli.verbosity.init_logging();
    match cli.command {
        Command::Fictional {
            count,
            seed,
            output,
            probes,
            paraphrases,
            min_sentences,
            words,
            data,
        } => {
            let bar = cli.verbosity.progress(count as u64, "paragraphs");
            let options = FictionalOptions {
                count,
                seed,
                shape: ParagraphShape {
                    paraphrases,
                    min_sentences,
                    target_words: words,
                    ..ParagraphShape::default()
                },
                data,
                output,
                probes,
            };
            let summary = generate_fictional(&options, &bar)?;
            bar.finish_and_clear();
            tracing::info!(
                "wrote {} paragraphs, {} paraphrases, {} probes",
                summary.paragraphs,
                summary.paraphrases,
                summary.probes
            );
            report_shared_targets(&summary);
        }
        Command::Background {
            documents,
            tokens,
            seed,
            grammar,
            output,
            data,
            grammar_data,
        } => {
            if grammar_data.is_some() && matches!(grammar, Grammar::Knowledge) {
                bail!("--grammar-data is read by `--grammar disjoint` only; `--grammar knowledge` takes its templates from --data");
            }
            // The bar counts what the size is given in: documents, or approximate tokens.
            let (size, total, unit) = match (documents, tokens) {
                (Some(n), None) => (CorpusSize::Documents(n), n, "documents"),
                (None, Some(n)) => (CorpusSize::Tokens(n), n, "tokens"),
                _ => bail!("give exactly one of --documents and --tokens"),
            };
            let bar = cli.verbosity.progress(total, unit);
            let summary = generate_background(
                &BackgroundOptions {
                    size,
                    seed,
                    grammar: match grammar {
                        Grammar::Disjoint => BackgroundGrammar::Disjoint,
                        Grammar::Knowledge => BackgroundGrammar::Knowledge,
                    },
                    data,
                    grammar_data,
                    output,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            tracing::info!(
                "wrote {} documents ({} bytes)",
                summary.documents,
                summary.bytes
            );
        }
        Command::Bios {
            count,
            variant,
            celebrities,
            celebrity_variant,
            train_fraction,
            validation_fraction,
            pronouns,
            order,
            date_style,
            seed,
            output,
            people,
            qa,
            data,
        } => {
            let bar = cli
                .verbosity
                .progress(count as u64 + celebrities as u64, "people");
            let summary = generate_bios(
                &BiosOptions {
                    people: count,
                    variant,
                    celebrities,
                    celebrity_variant,
                    train_fraction,
                    validation_fraction,
                    pronouns: match pronouns {
                        Pronouns::HeSheThey => PronounRule::HeSheThey,
                        Pronouns::HeShe => PronounRule::HeShe,
                        Pronouns::Parity => PronounRule::Parity,
                    },
                    order,
                    date_style: match date_style {
                        DateFormat::MonthDayYear => DateStyle::MonthDayYear,
                        DateFormat::DayOfMonth => DateStyle::DayOfMonth,
                    },
                    seed,
                    data,
                    output,
                    people_output: people,
                    qa_output: qa,
                },
                &bar,
            )?;
            bar.finish_and_clear();
            tracing::info!(
                "wrote {} people ({} in P_train, {} of them held out for validation), {} biography \
                 entries (≈ {} tokens), {} QA pairs",
                summary.people,
                summary.train_people + summary.validation_people,
                summary.validation_people,
                summary.entries,
                summary.bytes.div_ceil(4),
                summary.qa_pairs
            );
        }
        Command::Reversals(args) => lampinen_cli::reversals(args)?,
        Command::Syllogisms(args) => lampinen_cli::syllogisms(args)?,
        Command::Semantic(args) => lampinen_cli::semantic(args)?,
        Command::ImportFictionalKnowledge {
            input,
            output,
            probes,
        } => {
            let summary = import_fictional_knowledge(&ImportOptions {
                input,
                output,
                probes,
            })?;
            tracing::info!(
                "imported {} paragraphs, {} paraphrases, {} probes",
                summary.paragraphs,
                summary.paraphrases,
                summary.probes
            );
            report_shared_targets(&summary);
        }
    }
    Ok(())
}

/// A composition probe whose answer is also a memorization answer of its paragraph measures
/// recall of that answer as much as composition; say how many there are.
fn report_shared_targets(summary: &FictionalSummary) {
    if summary.composition_probes > 0 {
        tracing::info!(
            "{} of {} composition probes ({:.0} %) share their target with a memorization probe of the same paragraph",
            summary.composition_targets_shared,
            summary.composition_probes,
            100.0 * summary.composition_targets_shared as f64 / summary.composition_probes as f64
        );
    }
}
