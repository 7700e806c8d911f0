//! Arguments of `gen-facts reversals | syllogisms | semantic` (the Lampinen et al. 2025
//! datasets), kept apart from main.rs so that each file stays short.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use factlab_cli::{int_in, positive};
use gen_facts::lampinen::{
    generate_reversals, generate_semantic, generate_syllogisms, LampinenSummary, ReversalsOptions,
    SemanticOptions, SyllogismsOptions,
};

/// Where the files go and what they are made from, the same for the three datasets.
#[derive(Args)]
pub struct Common {
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Knowledge Parquet of training documents to write (`-` for stdout).
    #[arg(short, long)]
    output: PathBuf,
    /// Options Parquet of test questions to write (`probe score --options`).
    #[arg(long)]
    options: Option<PathBuf>,
    /// Folder laid out like data/lampinen/ (relations.toml, phonemes.toml, stoplist.txt,
    /// features.toml, preambles.txt, styles.toml, hierarchy.toml) replacing the bundled one.
    #[arg(long)]
    data: Option<PathBuf>,
}

/// Simple reversals (Lampinen et al. 2025, §1a): comparisons between two nonsense entities on
/// one of 28 features ("femp are more dangerous than glon"), each trained in --copies documents
/// behind different preambles from data/lampinen/preambles.txt, and tested only in reverse.
///
/// Each question is a 2-way choice between the reversal ("glon are less dangerous than femp")
/// and the contradictory relation ("glon are more dangerous than femp"); chance is 50 %. The
/// prompt is the words the two share ("glon are"), the completion the rest. Split `reversals`,
/// subset the feature.
///
/// Choices where the paper is silent: every fact has two fresh entities (no entity is in two
/// facts, so nothing else implies a reversal); the stated direction (more or less) is drawn per
/// fact; features go round in a shuffled cycle, so all 28 are used once -n ≥ 28; no fact is
/// trained in both directions; nonsense words stay lower case, even opening a sentence.
#[derive(Args)]
#[command(after_help = "\
Examples:
  gen-facts reversals -o reversals.parquet --options reversals-options.parquet
  gen-facts reversals -n 40 --copies 5 --seed 2 -o knowledge.parquet --options options.parquet")]
pub struct ReversalsArgs {
    /// Comparison facts (the paper: 100; at most 100,000).
    #[arg(short = 'n', long, default_value_t = 100, value_parser = positive::<u32>().at_most(100_000))]
    count: u32,
    /// Training documents per fact (the paper: 10; at most 1,000).
    #[arg(long, default_value_t = 10, value_parser = positive::<u32>().at_most(1_000))]
    copies: u32,
    #[command(flatten)]
    common: Common,
}

/// Simple syllogisms (Lampinen et al. 2025, §1b): a document states two premises about three
/// nonsense sets ("The relationships between glon, troff and yomp are: All glon are troff. All
/// troff are yomp."); the test prompt names the conclusion's two sets ("The relationships
/// between yomp and glon are:") and four candidates are the completions, exactly one right:
/// "All yomp are glon.", "All glon are yomp.", "Some yomp are glon.", "No yomp are glon." (the
/// sets in the prompt's order, which is random). Chance is 1/4. Split `syllogisms`, subset the
/// mood.
///
/// Why four, where the paper scores six ({All, Some, No} × both directions): sets may be empty
/// (no existential import), and "some" and "no" statements hold in both directions or neither,
/// so stating them both ways would make two candidates valid. Premise forms: the seven moods
/// with an all, some or no conclusion that need no existential import — barbara (All a are b,
/// All b are c ⇒ All a are c), celarent, cesare, camestres (⇒ No a are c), darii, datisi,
/// disamis (⇒ Some a are c) — premises in either order. In every block of four questions the
/// conclusions are All, All, Some, No in a random order (a mood drawn among those of its
/// conclusion), so a scorer that always prefers one quantifier scores chance, not 50 % as when
/// every conclusion was "All".
#[derive(Args)]
#[command(after_help = "\
Examples:
  gen-facts syllogisms -o syllogisms.parquet --options syllogisms-options.parquet
  gen-facts syllogisms -n 20 --seed 3 -o knowledge.parquet --options options.parquet")]
pub struct SyllogismsArgs {
    /// Premise pairs (the paper: 69; at most 100,000).
    #[arg(short = 'n', long, default_value_t = 69, value_parser = positive::<u32>().at_most(100_000))]
    count: u32,
    #[command(flatten)]
    common: Common,
}

/// Semantic structure benchmark (Lampinen et al. 2025, §1d): a hierarchy of 116 categories of
/// animals and objects after Rogers & McClelland (data/lampinen/hierarchy.toml; living things →
/// animals → mammals → dogs → beagles, objects → tools → hammers, …), each with 1–6 own
/// properties (has-part, has-property, can) plus inherited ones, every noun, adjective and verb
/// replaced by a nonsense word.
///
/// Documents: 4–20 lines, each stating one fact in its canonical sentence: all facts about one
/// category (its parent first), then facts about its neighbours in the hierarchy. Styles: an
/// article (sentences in a paragraph, half the documents), a list under a header (three in
/// ten), or prose ending in up to three "Q: … A: …" lines (two in ten). Each category opens at
/// least one document, so -n must be at least the number of categories.
///
/// Test splits, 4 options each (the right one and three distractors: objects the question's
/// relation holds to for some other entity, never for this one): `rephrasings` (a trained fact
/// in a paraphrase from relations.toml, never a trained wording), `reversals` ("abmes include
/// gruds" from "gruds are a type of abmes"; a property's reversal likewise), `syllogisms` (two
/// hops: c is-a p with p is-a g, or with p's own property), `category-holdouts` (leaf categories
/// with a grandparent whose only trained fact is their parent; their own properties are
/// dropped, and every ancestor, every inherited property and the parent's inclusion of them are
/// tested). Subset: `category` (is-a, includes) or `property`. Chance is 25 %.
#[derive(Args)]
#[command(after_help = "\
Examples:
  gen-facts semantic -o semantic.parquet --options semantic-options.parquet
  gen-facts semantic -n 200 --holdouts 4 --seed 1 -o knowledge.parquet --options options.parquet")]
pub struct SemanticArgs {
    /// Training documents (the paper: 2,200; at most 1,000,000).
    #[arg(short = 'n', long, default_value_t = 2200, value_parser = positive::<u32>().at_most(1_000_000))]
    count: u32,
    /// Held-out categories (fewer than the hierarchy's categories).
    #[arg(long, default_value_t = 8, value_parser = int_in(0..=100_000u32))]
    holdouts: u32,
    #[command(flatten)]
    common: Common,
}

pub fn reversals(args: ReversalsArgs) -> Result<()> {
    let c = args.common;
    report(generate_reversals(&ReversalsOptions {
        facts: args.count,
        copies: args.copies,
        seed: c.seed,
        data: c.data,
        output: c.output,
        options_output: c.options,
    })?);
    Ok(())
}

pub fn syllogisms(args: SyllogismsArgs) -> Result<()> {
    let c = args.common;
    report(generate_syllogisms(&SyllogismsOptions {
        pairs: args.count,
        seed: c.seed,
        data: c.data,
        output: c.output,
        options_output: c.options,
    })?);
    Ok(())
}

pub fn semantic(args: SemanticArgs) -> Result<()> {
    let c = args.common;
    report(generate_semantic(&SemanticOptions {
        documents: args.count,
        holdouts: args.holdouts,
        seed: c.seed,
        data: c.data,
        output: c.output,
        options_output: c.options,
    })?);
    Ok(())
}

fn report(summary: LampinenSummary) {
    tracing::info!(
        "wrote {} documents stating {} facts, {} questions with {} options",
        summary.documents,
        summary.facts,
        summary.questions,
        summary.options
    );
}
