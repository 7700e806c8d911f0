//! The background corpus against the probes: the default grammar must not teach the base model
//! any probe's wording, and the `knowledge` grammar, kept for comparison, must.
//!
//! A probe's fixed wording is every run of `RUN` consecutive words that lies inside one literal
//! fragment, that is between two placeholders or names, of
//! - a template of data/fictional/relations.toml (each `sentences` entry, `descriptor`, `question`);
//! - a generated probe's prompt, split at every entity name its facts mention (this adds the runs a
//!   composition prompt makes where its question and descriptor templates meet).
//!
//! Words are compared lower-cased with surrounding punctuation removed. The corpus's runs are
//! taken within each sentence (commas do not break a run): a template is one sentence, so its
//! wording never spans a sentence end, and `took place. At the` is not `took place at the`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use factlab_artifacts::{read_rows, CorpusDocument, Probe, ProbeKind};
use gen_facts::{
    check_background_grammar, generate_background, generate_fictional, BackgroundGrammar,
    BackgroundOptions, CorpusSize, FictionalOptions, ParagraphShape,
};
use indicatif::ProgressBar;

const RUN: usize = 3;

type Run = Vec<String>;

fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| ".,;:!?\"'()".contains(c))
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn runs(fragment: &str) -> Vec<Run> {
    words(fragment)
        .windows(RUN)
        .map(<[String]>::to_vec)
        .collect()
}

fn relations_toml() -> toml::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fictional/relations.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Wording {
    template: String,
    /// From a `sentences` entry, the only templates the knowledge grammar writes documents with.
    sentence: bool,
}

/// Runs of every template's literal fragments, each with the template it came from.
fn template_runs() -> HashMap<Run, Wording> {
    let mut out = HashMap::new();
    for relation in relations_toml()["relation"].as_array().unwrap() {
        let sentences = relation["sentences"].as_array().unwrap().iter();
        let sentences = sentences.map(|t| (t, true));
        let others = ["descriptor", "question"]
            .into_iter()
            .filter_map(|key| relation.get(key).map(|t| (t, false)));
        for (template, sentence) in sentences.chain(others) {
            let template = template.as_str().unwrap();
            for fragment in template.split(['{', '}']).step_by(2) {
                for run in runs(fragment) {
                    let wording = Wording {
                        template: template.to_string(),
                        sentence,
                    };
                    out.entry(run).or_insert(wording);
                }
            }
        }
    }
    out
}

/// Runs of a probe's prompt with its entity names cut out.
fn probe_runs(probe: &Probe) -> Vec<Run> {
    let mut fragments = vec![probe.prompt.clone()];
    let mut names: Vec<&String> = probe
        .facts
        .iter()
        .flat_map(|f| [&f.subject, &f.object])
        .collect();
    // Longest first, so that `Velth` never cuts `Velth River` and leaves `River` behind.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        fragments = fragments
            .iter()
            .flat_map(|f| f.split(name.as_str()))
            .map(str::to_string)
            .collect();
    }
    fragments.iter().flat_map(|f| runs(f)).collect()
}

fn corpus_runs(documents: &[CorpusDocument]) -> HashSet<Run> {
    documents
        .iter()
        .flat_map(|d| d.text.split(['.', '!', '?']))
        .flat_map(runs)
        .collect()
}

struct Setup {
    probes: Vec<Probe>,
    _dir: tempfile::TempDir,
    corpus: HashMap<BackgroundGrammar, Vec<CorpusDocument>>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let fictional = FictionalOptions {
        count: 120,
        seed: 4,
        shape: ParagraphShape::default(),
        data: None,
        output: dir.path().join("k.parquet"),
        probes: Some(dir.path().join("p.parquet")),
    };
    generate_fictional(&fictional, &ProgressBar::hidden()).unwrap();
    let mut corpus = HashMap::new();
    for grammar in [BackgroundGrammar::Disjoint, BackgroundGrammar::Knowledge] {
        let options = BackgroundOptions {
            size: CorpusSize::Documents(300),
            seed: 4,
            grammar,
            data: None,
            grammar_data: None,
            output: dir.path().join(format!("{grammar:?}.parquet")),
        };
        generate_background(&options, &ProgressBar::hidden()).unwrap();
        corpus.insert(grammar, read_rows(&options.output).unwrap());
    }
    Setup {
        probes: read_rows(fictional.probes.as_ref().unwrap()).unwrap(),
        _dir: dir,
        corpus,
    }
}

fn example<'a>(documents: &'a [CorpusDocument], run: &Run) -> &'a str {
    documents
        .iter()
        .flat_map(|d| d.text.split_inclusive(['.', '!', '?']))
        .find(|s| words(s).windows(RUN).any(|w| w == run.as_slice()))
        .unwrap_or("(not found)")
}

#[test]
fn background_contains_no_probe_template() {
    let setup = setup();
    let documents = &setup.corpus[&BackgroundGrammar::Disjoint];
    let corpus = corpus_runs(documents);
    let templates = template_runs();
    assert!(templates.len() > 1000, "{} template runs", templates.len());
    let hits: Vec<String> = templates
        .iter()
        .filter(|(run, _)| corpus.contains(*run))
        .map(|(run, wording)| {
            format!(
                "`{}` of `{}` in `{}`",
                run.join(" "),
                wording.template,
                example(documents, run)
            )
        })
        .collect();
    assert!(
        hits.is_empty(),
        "template wording in the background:\n{}",
        hits.join("\n")
    );

    let mut checked = HashMap::new();
    for probe in &setup.probes {
        let runs = probe_runs(probe);
        *checked.entry(probe.kind).or_insert(0) += runs.len();
        for run in runs {
            assert!(
                !corpus.contains(&run),
                "probe {} `{}`: `{}` occurs in the background, e.g. `{}`",
                probe.id,
                probe.prompt,
                run.join(" "),
                example(documents, &run)
            );
        }
    }
    for kind in ProbeKind::ALL {
        assert!(
            checked[&kind] > 500,
            "{kind:?}: only {} runs",
            checked[&kind]
        );
    }
}

/// The check above can fail: the knowledge grammar's corpus holds the wording of nearly every
/// memorization probe (those whose template has a fragment of `RUN` words or more).
#[test]
fn knowledge_grammar_contains_the_probe_templates() {
    let setup = setup();
    let corpus = corpus_runs(&setup.corpus[&BackgroundGrammar::Knowledge]);
    let mut with_runs = 0;
    let mut found = 0;
    for probe in setup
        .probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Memorization)
    {
        let runs = probe_runs(probe);
        if !runs.is_empty() {
            with_runs += 1;
            found += runs.iter().any(|r| corpus.contains(r)) as usize;
        }
    }
    assert!(
        with_runs > 400,
        "{with_runs} memorization probes with fixed wording"
    );
    assert!(
        found * 100 >= with_runs * 95,
        "only {found} of {with_runs} memorization probes' wording occurs in the knowledge-grammar corpus"
    );
    let sentence_runs: Vec<Run> = template_runs()
        .into_iter()
        .filter(|(_, wording)| wording.sentence)
        .map(|(run, _)| run)
        .collect();
    let shared = sentence_runs.iter().filter(|r| corpus.contains(*r)).count();
    assert!(
        shared * 100 >= sentence_runs.len() * 95,
        "{shared} of {} sentence-template runs",
        sentence_runs.len()
    );
}

#[test]
fn disjoint_documents_have_the_knowledge_documents_length() {
    let setup = setup();
    let stats = |grammar| {
        let lengths: Vec<usize> = setup.corpus[&grammar]
            .iter()
            .map(|d: &CorpusDocument| d.text.split_whitespace().count())
            .collect();
        let mean = lengths.iter().sum::<usize>() as f64 / lengths.len() as f64;
        (
            *lengths.iter().min().unwrap(),
            *lengths.iter().max().unwrap(),
            mean,
        )
    };
    let (min, max, mean) = stats(BackgroundGrammar::Disjoint);
    let (_, _, knowledge_mean) = stats(BackgroundGrammar::Knowledge);
    assert!(
        min >= 240 && max <= 340 && (mean - knowledge_mean).abs() <= 20.0,
        "disjoint: {min} to {max} words, mean {mean:.0}; knowledge: mean {knowledge_mean:.0}"
    );
    // Varied text: few sentences repeat verbatim across the corpus.
    let sentences: Vec<&str> = setup.corpus[&BackgroundGrammar::Disjoint]
        .iter()
        .flat_map(|d| d.text.split_inclusive(". "))
        .collect();
    let distinct: HashSet<&&str> = sentences.iter().collect();
    assert!(
        distinct.len() * 100 >= sentences.len() * 97,
        "{} distinct of {} sentences",
        distinct.len(),
        sentences.len()
    );
}

fn grammar_copy(dir: &Path, edit: impl Fn(&str, String) -> String) -> std::path::PathBuf {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/background");
    let copy = dir.join("grammar");
    std::fs::create_dir_all(&copy).unwrap();
    for name in ["grammar.toml", "vocabulary.toml"] {
        let text = std::fs::read_to_string(bundled.join(name)).unwrap();
        std::fs::write(copy.join(name), edit(name, text)).unwrap();
    }
    copy
}

#[test]
fn grammar_files_load_and_bad_entries_are_named() {
    let summary = check_background_grammar(None, None).unwrap();
    assert!(summary.topics.len() >= 8, "{:?}", summary.topics);
    for (topic, frames) in &summary.topics {
        assert!(*frames >= 35, "topic `{topic}` draws from {frames} frames");
    }
    assert!(summary.slots >= 40, "{} slots", summary.slots);

    let cases: [(&str, &str, &str, &str); 8] = [
        (
            "grammar.toml",
            "\"Adults weigh about {grams} grams.\"",
            "\"Adults weigh about {gramz} grams.\"",
            "[frames] `creature`, frame 0: unknown placeholder `{gramz}`",
        ),
        (
            "vocabulary.toml",
            "\"{a} {disaster}\"",
            "\"{a} {disastr}\"",
            "[lists] `trouble`, entry 0: unknown placeholder `{disastr}`",
        ),
        (
            "vocabulary.toml",
            "town = \"city\"",
            "town = \"citadel\"",
            "[names] `town`: name kind `citadel` is not in names.toml",
        ),
        (
            "vocabulary.toml",
            "fish = [",
            "spawn = [\"{fish}\"]\nfish = [\"{spawn}\", ",
            "[lists] `fish` refers back to itself: fish -> spawn -> fish",
        ),
        (
            "vocabulary.toml",
            "fish = [",
            "year = [\"1900\"]\nfish = [",
            "`year` is defined in both [numbers] and [lists]",
        ),
        (
            "vocabulary.toml",
            "\"a long quarrel over grazing\"",
            "\"a long quarrel over {entity}\"",
            "[lists] `trouble`: `{refer}` and `{entity}` belong in frames and openings",
        ),
        (
            "grammar.toml",
            "groups = [\"machine\", \"anecdote\"]",
            "groups = [\"machines\", \"anecdote\"]",
            "topic `machine`: unknown group `machines`",
        ),
        (
            "grammar.toml",
            "refer = [\"the river\"",
            "refer = [\"the {river_knd}\"",
            "topic `river`, refer 0: unknown placeholder `{river_knd}`",
        ),
    ];
    for (i, (file, from, to, expected)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let copy = grammar_copy(dir.path(), |name, text| {
            if name == *file {
                assert!(text.contains(from), "case {i}: `{from}` not in {name}");
                text.replacen(from, to, 1)
            } else {
                text
            }
        });
        let error = format!(
            "{:#}",
            check_background_grammar(Some(&copy), None).unwrap_err()
        );
        let path = copy.join(file).display().to_string();
        assert!(
            error.contains(expected) && error.contains(&path),
            "case {i}: expected `{path}` and `{expected}` in: {error}"
        );
    }
}
