//! `gen-facts`: the first stage. Writes knowledge paragraphs about invented entities with their
//! paraphrases and probes, a background corpus about other invented entities, or imports the
//! public Fictional Knowledge release into the same two artifacts; [`lampinen`] writes the
//! nonsense-word finetuning documents and test questions of Lampinen et al. 2025.

mod background;
mod bios;
mod grammar;
mod import;
pub mod lampinen;
mod names;
mod paragraph;
mod world;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use factlab_artifacts::outputs::{seal_together, write_rows_unsealed};
use factlab_artifacts::{
    display_path, ArtifactWriter, CorpusDocument, Knowledge, Probe, ProbeKind,
};
use indicatif::ProgressBar;
use rayon::prelude::*;

pub use bios::{
    generate_bios, BioData, BiosOptions, BiosSummary, DateStyle, PronounRule, SentenceOrder,
    Variant,
};
pub use names::NameSpace;
pub use paragraph::ParagraphShape;
pub use world::World;

use paragraph::{Paragraphs, SubjectSequence};

/// Paragraphs generated in parallel between two writes: large enough to keep both cores busy,
/// small enough that 100,000 paragraphs never sit in memory at once.
const CHUNK: usize = 2048;

pub const FICTIONAL_DATASET: &str = "fictional";

fn world(data: Option<&Path>) -> Result<World> {
    match data {
        Some(dir) => World::load(dir),
        None => World::bundled(),
    }
}

pub struct FictionalOptions {
    pub count: u32,
    pub seed: u64,
    pub shape: ParagraphShape,
    pub data: Option<PathBuf>,
    pub output: PathBuf,
    pub probes: Option<PathBuf>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct FictionalSummary {
    pub paragraphs: u64,
    pub paraphrases: u64,
    pub probes: u64,
    pub composition_probes: u64,
    /// Composition probes whose target is also the target of a memorization probe of the same
    /// paragraph: they test recall of that answer as much as composition.
    pub composition_targets_shared: u64,
}

impl FictionalSummary {
    fn count_probes(&mut self, probes: &[Probe]) {
        self.probes += probes.len() as u64;
        let memorized: HashSet<(u32, &str)> = probes
            .iter()
            .filter(|p| p.kind == ProbeKind::Memorization)
            .map(|p| (p.knowledge_id, p.target.as_str()))
            .collect();
        for probe in probes.iter().filter(|p| p.kind == ProbeKind::Composition) {
            self.composition_probes += 1;
            if memorized.contains(&(probe.knowledge_id, probe.target.as_str())) {
                self.composition_targets_shared += 1;
            }
        }
    }
}

pub fn generate_fictional(
    options: &FictionalOptions,
    progress: &ProgressBar,
) -> Result<FictionalSummary> {
    let world = world(options.data.as_deref())?;
    let mut subjects = SubjectSequence::new(&world, NameSpace::Knowledge, options.seed);
    let paragraphs = Paragraphs::new(
        &world,
        NameSpace::Knowledge,
        options.seed,
        options.shape.clone(),
    );
    let mut knowledge_out = ArtifactWriter::<Knowledge>::create(&options.output)?;
    let mut probes_out = match &options.probes {
        Some(path) => Some(ArtifactWriter::<Probe>::create(path)?),
        None => None,
    };
    let mut summary = FictionalSummary {
        paragraphs: 0,
        paraphrases: 0,
        probes: 0,
        composition_probes: 0,
        composition_targets_shared: 0,
    };
    let mut next_id = 0u32;
    while next_id < options.count {
        let chunk: Vec<(u32, paragraph::Subject)> = (next_id
            ..options.count.min(next_id + CHUNK as u32))
            .map(|id| {
                (
                    id,
                    subjects.next().expect("the subject sequence never ends"),
                )
            })
            .collect();
        next_id += chunk.len() as u32;
        let generated = chunk
            .par_iter()
            .map(|(id, subject)| {
                let row = paragraphs.knowledge(*id, subject, FICTIONAL_DATASET);
                progress.inc(1);
                row
            })
            .collect::<Result<Vec<_>>>()?;
        let (rows, probe_lists): (Vec<Knowledge>, Vec<Vec<Probe>>) = generated.into_iter().unzip();
        summary.paragraphs += rows.len() as u64;
        summary.paraphrases += rows.iter().map(|r| r.paraphrases.len() as u64).sum::<u64>();
        knowledge_out.write(&rows)?;
        let probes: Vec<Probe> = probe_lists.into_iter().flatten().collect();
        // A chunk holds every probe of its paragraphs, so shared targets are found within it.
        summary.count_probes(&probes);
        if let Some(out) = probes_out.as_mut() {
            out.write(&probes)?;
        }
    }
    // One set: a kill between the two renames leaves files whose set ids differ, which the
    // readers that take both refuse.
    let mut files = vec![knowledge_out.into_unsealed()?];
    if let Some(out) = probes_out {
        files.push(out.into_unsealed()?);
    }
    seal_together(files)?;
    Ok(summary)
}

#[derive(Debug, Clone, Copy)]
pub enum CorpusSize {
    Documents(u64),
    /// Approximate tokens, counted as bytes / 4 (the usual ratio for English BPE).
    Tokens(u64),
}

/// Which sentences the background corpus is written with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum BackgroundGrammar {
    /// The grammar of `data/background/`, which shares no wording with any probe: the base
    /// model learns English-like text, not the probes' templates.
    #[default]
    Disjoint,
    /// The knowledge paragraphs' own templates (`data/fictional/relations.toml`), so every probe's
    /// wording is familiar before injection: the "template overlap" arm of a comparison.
    Knowledge,
}

pub struct BackgroundOptions {
    pub size: CorpusSize,
    pub seed: u64,
    pub grammar: BackgroundGrammar,
    /// Folder with names.toml and relations.toml replacing data/fictional.
    pub data: Option<PathBuf>,
    /// Folder with grammar.toml and vocabulary.toml replacing data/background.
    pub grammar_data: Option<PathBuf>,
    pub output: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub struct BackgroundSummary {
    pub documents: u64,
    pub bytes: u64,
}

pub fn approximate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// What a disjoint grammar holds, once loaded and checked.
#[derive(Debug)]
pub struct GrammarSummary {
    /// Each topic's id and the number of frames its documents draw from.
    pub topics: Vec<(String, usize)>,
    pub slots: usize,
}

/// Loads and checks a disjoint grammar (the bundled one without `grammar_data`): every
/// placeholder known, every name kind in names.toml, no list that refers back to itself.
pub fn check_background_grammar(
    grammar_data: Option<&Path>,
    data: Option<&Path>,
) -> Result<GrammarSummary> {
    let world = world(data)?;
    let grammar = grammar::Grammar::load(grammar_data, &world.names)?;
    Ok(GrammarSummary {
        topics: grammar
            .topics
            .iter()
            .map(|t| (t.id.clone(), t.frames.len()))
            .collect(),
        slots: grammar.slots.len(),
    })
}

/// Writes the background corpus. `progress` counts documents, or approximate tokens (up to the
/// budget) when the size is a token budget.
pub fn generate_background(
    options: &BackgroundOptions,
    progress: &ProgressBar,
) -> Result<BackgroundSummary> {
    let world = world(options.data.as_deref())?;
    match options.grammar {
        BackgroundGrammar::Disjoint => {
            let grammar = grammar::Grammar::load(options.grammar_data.as_deref(), &world.names)?;
            let documents = background::Documents::new(&grammar, &world.names, options.seed);
            write_background(
                options,
                background::Subjects::new(&grammar, &world.names, options.seed),
                |index, subject| documents.document(index, subject),
                progress,
            )
        }
        BackgroundGrammar::Knowledge => {
            let paragraphs = Paragraphs::new(
                &world,
                NameSpace::Background,
                options.seed,
                ParagraphShape::default(),
            );
            write_background(
                options,
                SubjectSequence::new(&world, NameSpace::Background, options.seed),
                |index, subject| paragraphs.document(index, subject),
                progress,
            )
        }
    }
}

/// Draws subjects in order, renders their documents in parallel a chunk at a time, and writes
/// them in index order: the same bytes whatever the thread count.
fn write_background<S: Sync>(
    options: &BackgroundOptions,
    mut subjects: impl Iterator<Item = S>,
    render: impl Fn(u64, &S) -> String + Sync,
    progress: &ProgressBar,
) -> Result<BackgroundSummary> {
    let mut out = ArtifactWriter::<CorpusDocument>::create(&options.output)?;
    let mut summary = BackgroundSummary {
        documents: 0,
        bytes: 0,
    };
    let mut tokens = 0u64;
    let done = |documents: u64, tokens: u64| match options.size {
        CorpusSize::Documents(n) => documents >= n,
        CorpusSize::Tokens(n) => tokens >= n,
    };
    while !done(summary.documents, tokens) {
        let first = summary.documents;
        let count = match options.size {
            CorpusSize::Documents(n) => (n - first).min(CHUNK as u64),
            CorpusSize::Tokens(_) => CHUNK as u64,
        };
        let chunk: Vec<(u64, S)> = (first..first + count)
            .map(|i| (i, subjects.next().expect("endless")))
            .collect();
        let mut documents: Vec<CorpusDocument> = chunk
            .par_iter()
            .map(|(index, subject)| CorpusDocument {
                text: render(*index, subject),
            })
            .collect();
        // A token budget ends at the document that reaches it, wherever it falls in the chunk.
        if let CorpusSize::Tokens(budget) = options.size {
            let mut keep = 0;
            while keep < documents.len() && tokens < budget {
                tokens += approximate_tokens(&documents[keep].text);
                keep += 1;
            }
            documents.truncate(keep);
        }
        summary.documents += documents.len() as u64;
        summary.bytes += documents.iter().map(|d| d.text.len() as u64).sum::<u64>();
        match options.size {
            CorpusSize::Documents(_) => progress.inc(documents.len() as u64),
            CorpusSize::Tokens(budget) => progress.set_position(tokens.min(budget)),
        }
        out.write(&documents)?;
    }
    out.finish()?;
    Ok(summary)
}

pub struct ImportOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub probes: Option<PathBuf>,
}

pub fn import_fictional_knowledge(options: &ImportOptions) -> Result<FictionalSummary> {
    let (knowledge, probes) = import::import(&options.input)?;
    let mut files = vec![write_rows_unsealed(&options.output, &knowledge)?];
    if let Some(path) = &options.probes {
        files.push(
            write_rows_unsealed(path, &probes)
                .with_context(|| format!("writing probes to {}", display_path(path)))?,
        );
    }
    seal_together(files)?;
    let mut summary = FictionalSummary {
        paragraphs: knowledge.len() as u64,
        paraphrases: knowledge.iter().map(|k| k.paraphrases.len() as u64).sum(),
        probes: 0,
        composition_probes: 0,
        composition_targets_shared: 0,
    };
    summary.count_probes(&probes);
    Ok(summary)
}
