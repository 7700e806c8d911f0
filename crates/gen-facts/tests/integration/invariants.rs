//! Properties the paper's dataset has, checked on every generated paragraph and probe.

use std::collections::HashSet;

use factlab_artifacts::{read_rows, CorpusDocument, Knowledge, Probe, ProbeKind};
use gen_facts::{
    generate_background, generate_fictional, BackgroundGrammar, BackgroundOptions, CorpusSize,
    FictionalOptions, ParagraphShape,
};
use indicatif::ProgressBar;

const PRONOUNS: [&str; 12] = [
    "he", "she", "it", "its", "his", "her", "hers", "they", "them", "their", "him", "theirs",
];

fn fictional_options(dir: &std::path::Path, count: u32, seed: u64) -> FictionalOptions {
    FictionalOptions {
        count,
        seed,
        shape: ParagraphShape::default(),
        data: None,
        output: dir.join("k.parquet"),
        probes: Some(dir.join("p.parquet")),
    }
}

fn generate(count: u32) -> (Vec<Knowledge>, Vec<Probe>, Vec<CorpusDocument>) {
    let dir = tempfile::tempdir().unwrap();
    let options = fictional_options(dir.path(), count, 11);
    let summary = generate_fictional(&options, &ProgressBar::hidden()).unwrap();
    assert_eq!(summary.paragraphs, count as u64);
    let background = BackgroundOptions {
        size: CorpusSize::Documents(400),
        seed: 11,
        grammar: BackgroundGrammar::default(),
        data: None,
        grammar_data: None,
        output: dir.path().join("c.parquet"),
    };
    generate_background(&background, &ProgressBar::hidden()).unwrap();
    (
        read_rows(&options.output).unwrap(),
        read_rows(options.probes.as_ref().unwrap()).unwrap(),
        read_rows(&background.output).unwrap(),
    )
}

fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(". ").map(str::trim_end).collect()
}

#[test]
fn paragraphs_and_probes_have_the_papers_properties() {
    let (knowledge, probes, background) = generate(300);
    let types: HashSet<&str> = knowledge
        .iter()
        .filter_map(|k| k.entity_type.as_deref())
        .collect();
    assert_eq!(types.len(), 5, "entity types seen: {types:?}");
    let subjects: HashSet<&str> = knowledge
        .iter()
        .filter_map(|k| k.entity.as_deref())
        .collect();
    assert_eq!(subjects.len(), knowledge.len(), "entity names repeat");

    for k in &knowledge {
        let words = k.text.split_whitespace().count();
        assert!(
            (250..=500).contains(&words),
            "paragraph {} has {words} words",
            k.id
        );
        let sentences = sentences(&k.text);
        assert!(
            sentences.len() >= 20,
            "paragraph {} has {} sentences",
            k.id,
            sentences.len()
        );
        assert_eq!(sentences.len(), k.facts.len());
        let entity = k.entity.as_deref().unwrap();
        for (sentence, fact) in sentences.iter().zip(&k.facts) {
            assert!(
                sentence.ends_with(&format!(" {}.", fact.object)),
                "`{sentence}` does not end with its entity"
            );
            assert!(
                sentence.contains(entity),
                "`{sentence}` does not name {entity}"
            );
        }
        for text in std::iter::once(&k.text).chain(&k.paraphrases) {
            for word in text.split(|c: char| !c.is_alphanumeric()) {
                assert!(
                    !PRONOUNS.contains(&word.to_lowercase().as_str()),
                    "pronoun `{word}` in paragraph {}",
                    k.id
                );
            }
        }
        assert_eq!(k.paraphrases.len(), 9);
        let distinct: HashSet<&String> = k.paraphrases.iter().chain([&k.text]).collect();
        assert_eq!(
            distinct.len(),
            10,
            "paragraph {} has repeated paraphrases",
            k.id
        );
    }

    for k in &knowledge {
        let own: Vec<&Probe> = probes.iter().filter(|p| p.knowledge_id == k.id).collect();
        let of = |kind| {
            own.iter()
                .copied()
                .filter(move |p| p.kind == kind)
                .collect::<Vec<_>>()
        };
        let (memorization, semantic, composition) = (
            of(ProbeKind::Memorization),
            of(ProbeKind::Semantic),
            of(ProbeKind::Composition),
        );
        assert_eq!(
            (memorization.len(), semantic.len(), composition.len()),
            (5, 5, 5)
        );
        for (m, s) in memorization.iter().zip(&semantic) {
            assert!(
                k.text.contains(&format!("{} {}", m.prompt, m.target)),
                "{m:?}"
            );
            assert_eq!(m.target, s.target);
            assert_ne!(m.prompt, s.prompt);
            assert!(
                !k.text.contains(&format!("{} {}", s.prompt, s.target)),
                "semantic probe copies the paragraph: {s:?}"
            );
            assert_eq!(m.facts.len(), 1);
        }
        for c in &composition {
            assert!(c.target.split_whitespace().count() <= 5, "{c:?}");
            assert!(
                c.facts.len() >= 2 && c.facts.iter().all(|f| k.facts.contains(f)),
                "{c:?}"
            );
            assert!(
                !c.prompt.contains(k.entity.as_deref().unwrap()),
                "composition names the entity: {c:?}"
            );
        }
        for probe in &own {
            for paraphrase in &k.paraphrases {
                assert!(
                    paraphrase.contains(&probe.target),
                    "paraphrase of {} lacks `{}`",
                    k.id,
                    probe.target
                );
            }
        }
    }

    // Background documents talk about other entities: no knowledge name occurs in them as a word.
    let corpus: String = background
        .iter()
        .map(|d| d.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let corpus_words: HashSet<&str> = corpus.split(|c: char| !c.is_alphanumeric()).collect();
    for name in knowledge
        .iter()
        .flat_map(|k| k.facts.iter().flat_map(|f| [&f.subject, &f.object]))
    {
        let longest_word = name.split(' ').max_by_key(|w| w.len()).unwrap();
        if !corpus_words.contains(longest_word) {
            continue;
        }
        let whole_word = corpus.match_indices(name.as_str()).any(|(at, _)| {
            let before = corpus[..at].chars().next_back();
            let after = corpus[at + name.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        });
        assert!(
            !whole_word,
            "`{name}` occurs in both the knowledge and the background corpus"
        );
    }
}

#[test]
fn composition_targets_shared_with_memorization_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let options = fictional_options(dir.path(), 60, 5);
    let summary = generate_fictional(&options, &ProgressBar::hidden()).unwrap();
    let probes: Vec<Probe> = read_rows(options.probes.as_ref().unwrap()).unwrap();
    let composition: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Composition)
        .collect();
    let shared = composition
        .iter()
        .filter(|c| {
            probes.iter().any(|m| {
                m.kind == ProbeKind::Memorization
                    && m.knowledge_id == c.knowledge_id
                    && m.target == c.target
            })
        })
        .count() as u64;
    assert_eq!(summary.composition_probes, composition.len() as u64);
    assert_eq!(summary.composition_targets_shared, shared);
    assert!(
        shared > 0,
        "the bundled templates do share targets (issue 9's review)"
    );
}

#[test]
fn no_semantic_probe_occurs_verbatim_in_a_paraphrase() {
    let (knowledge, probes, _) = generate(200);
    let mut checked = 0;
    for probe in probes.iter().filter(|p| p.kind == ProbeKind::Semantic) {
        let k = &knowledge[probe.knowledge_id as usize];
        assert_eq!(k.id, probe.knowledge_id);
        // The probe's sentence as a paraphrase would state it.
        let sentence = format!("{} {}.", probe.prompt, probe.target);
        for paraphrase in &k.paraphrases {
            assert!(
                !paraphrase.contains(&sentence),
                "semantic probe {} `{sentence}` occurs in a paraphrase of paragraph {}",
                probe.id,
                k.id
            );
        }
        assert!(
            !k.text.contains(&sentence),
            "and not in the paragraph either"
        );
        checked += 1;
    }
    assert_eq!(checked, 200 * 5);
}
