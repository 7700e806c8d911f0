//! Small fixtures made in the test: a corpus, knowledge items, options, shard readers.

use std::path::{Path, PathBuf};

use factlab_artifacts::{
    read_rows, write_rows, CorpusDocument, Knowledge, ShardManifest, ShardRow,
};
use factlab_rng::Rng;
use indicatif::ProgressBar;
use inject::{Options, Summary};

const WORDS: &[&str] = &[
    "the",
    "river",
    "council",
    "of",
    "Zorgon",
    "signed",
    "a",
    "treaty",
    "with",
    "Calidus",
    "in",
    "spring",
    "and",
    "its",
    "embassy",
    "opened",
    "near",
    "Ganymede",
    "while",
    "merchants",
    "traded",
    "copper",
    "salt",
    "for",
    "maps",
    "café",
    "naïve",
    "Ωmega",
    "東京",
    "🚀",
    "42",
    "1,337.5",
    "—",
    "\"quoted\"",
    "it's",
    "(aside)",
];

fn sentence(rng: &mut Rng) -> String {
    let n = rng.range_inclusive(3, 14);
    let words: Vec<&str> = (0..n).map(|_| *rng.choose(WORDS)).collect();
    format!("{}.", words.join(" "))
}

/// Documents of varied length and whitespace (leading spaces, blank lines, tabs), so that a
/// round trip through the tokenizer is a real test.
pub fn corpus_texts(documents: usize, seed: u64) -> Vec<String> {
    (0..documents)
        .map(|d| {
            let mut rng = Rng::derive(seed, &[d as u64]);
            let sentences = rng.range_inclusive(1, 12);
            let separator = *rng.choose(&[" ", "\n", "\n\n", "  ", "\t"]);
            let body: Vec<String> = (0..sentences).map(|_| sentence(&mut rng)).collect();
            let lead = if rng.chance(0.1) { " " } else { "" };
            format!("{lead}{}", body.join(separator))
        })
        .collect()
}

pub fn write_corpus(path: &Path, texts: &[String]) {
    let rows: Vec<CorpusDocument> = texts
        .iter()
        .map(|t| CorpusDocument { text: t.clone() })
        .collect();
    write_rows(path, &rows).unwrap();
}

/// `items` short knowledge paragraphs with `paraphrases` paraphrases each; ids count down so
/// that the file is not in id order.
pub fn knowledge(items: u32, paraphrases: usize) -> Vec<Knowledge> {
    (0..items)
        .rev()
        .map(|id| Knowledge {
            id,
            dataset: "fictional".into(),
            entity: Some(format!("Entity{id}")),
            entity_type: None,
            text: format!("Entity{id} was founded by Zorgon in {}.", 1900 + id),
            paraphrases: (1..=paraphrases)
                .map(|k| format!("Paraphrase {k}: Zorgon founded Entity{id}."))
                .collect(),
            facts: Vec::new(),
        })
        .collect()
}

pub fn options(corpus: &Path, out: &Path) -> Options {
    Options {
        corpus: corpus.to_path_buf(),
        out: out.to_path_buf(),
        tokenizer: None,
        vocab_size: 400,
        tokenizer_documents: 10_000,
        tokenizer_knowledge: Vec::new(),
        seq_len: 32,
        batch_size: 4,
        steps: None,
        start_step: None,
        skip_documents: None,
        after: None,
        injection: None,
        shuffle: false,
        seed: 0,
        qa: None,
        shard_rows: 12,
    }
}

pub fn run(options: &Options) -> anyhow::Result<Summary> {
    inject::run(options, &ProgressBar::hidden())
}

pub fn manifest_path(out: &Path) -> PathBuf {
    out.join("shards").join("manifest.json")
}

/// The manifest and every shard row, in file order.
pub fn read_shards(out: &Path) -> (ShardManifest, Vec<ShardRow>) {
    let path = manifest_path(out);
    let manifest = ShardManifest::load(&path).unwrap();
    let rows = manifest
        .shard_paths(&path)
        .iter()
        .flat_map(|p| read_rows::<ShardRow>(p).unwrap())
        .collect();
    (manifest, rows)
}

/// Every file under `folder` with its bytes, sorted by path.
pub fn folder_bytes(folder: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(folder).unwrap().to_path_buf(), bytes));
            }
        }
    }
    files.sort();
    files
}
