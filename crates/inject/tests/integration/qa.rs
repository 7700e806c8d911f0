//! Corpus passes in seeded orders (`--shuffle`) and question–answer rows with loss masks
//! (`--qa`): what the rows hold, decoded, and what is refused.

use crate::common;

use std::path::Path;

use factlab_artifacts::{write_rows, QaPair};
use inject::qa::QaSplit;
use inject::tokenizer::TextTokenizer;
use inject::QaOptions;

use common::{options, read_shards, run, write_corpus};

fn pairs() -> Vec<QaPair> {
    let pair = |id: u32, attribute: &str, question: &str, answer: &str, split: &str| QaPair {
        person_id: id,
        attribute: attribute.into(),
        question: question.into(),
        answer: answer.into(),
        split: split.into(),
    };
    vec![
        pair(
            0,
            "major",
            "What major did Ada Lee Moss study?",
            "Physics",
            "train",
        ),
        pair(
            0,
            "employer",
            "Which company did Ada Lee Moss work for?",
            "Dell",
            "train",
        ),
        pair(
            1,
            "major",
            "What major did Bo Kai Li study?",
            "Music",
            "train",
        ),
        pair(
            2,
            "major",
            "What major did Cy Ann Roe study?",
            "Law",
            "test",
        ),
    ]
}

fn decode(tokenizer: &TextTokenizer, ids: &[u32]) -> String {
    tokenizer.decode(ids).unwrap()
}

#[test]
fn qa_rows_hold_whole_examples_with_the_answer_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.parquet");
    write_corpus(&corpus, &common::corpus_texts(200, 1));
    let qa = dir.path().join("qa.parquet");
    write_rows(&qa, &pairs()).unwrap();
    let mut opts = options(&corpus, &dir.path().join("mixed"));
    opts.seq_len = 48;
    opts.steps = Some(6);
    opts.qa = Some(QaOptions {
        path: qa.clone(),
        split: QaSplit::Train,
        share: 0.5,
    });
    let summary = run(&opts).unwrap();
    assert_eq!(summary.qa_rows, 12);
    assert_eq!(summary.qa_pairs, 3);
    let (manifest, rows) = read_shards(&dir.path().join("mixed"));
    let tokenizer = TextTokenizer::load(&dir.path().join("mixed/tokenizer.json")).unwrap();
    let eos = manifest.eos_token_id;
    let mut answers_seen = Vec::new();
    for row in &rows {
        if row.row < 2 {
            assert_eq!(row.source, "corpus");
            assert!(row.loss_mask.is_empty());
            continue;
        }
        assert_eq!(row.source, "qa");
        assert_eq!(row.loss_mask.len(), 48);
        assert_eq!(row.tokens[0], eos);
        // Split the row at its end-of-text tokens: each example is question + cue, then the
        // flagged answer and its end-of-text.
        let mut start = 1;
        while start < 48 && row.tokens[start] != eos {
            let end = start + row.tokens[start..].iter().position(|&t| t == eos).unwrap();
            let flagged: Vec<u32> = (start..=end)
                .filter(|&i| row.loss_mask[i])
                .map(|i| row.tokens[i])
                .collect();
            let unflagged: Vec<u32> = (start..=end)
                .filter(|&i| !row.loss_mask[i])
                .map(|i| row.tokens[i])
                .collect();
            assert_eq!(*flagged.last().unwrap(), eos, "the end-of-text is a target");
            let answer = decode(&tokenizer, &flagged[..flagged.len() - 1]);
            let question = decode(&tokenizer, &unflagged);
            let pair = pairs()
                .into_iter()
                .find(|p| p.prompt() == question)
                .unwrap_or_else(|| panic!("unknown question `{question}`"));
            assert_eq!(answer, pair.completion());
            assert_eq!(pair.split, "train", "only P_train pairs are trained on");
            answers_seen.push(pair.answer);
            start = end + 1;
        }
        assert!(
            row.loss_mask[start..].iter().all(|f| !f),
            "padding carries no loss"
        );
        assert!(row.tokens[start..].iter().all(|&t| t == eos));
    }
    for answer in ["Physics", "Dell", "Music"] {
        assert!(
            answers_seen.iter().any(|a| a == answer),
            "{answer} never trained"
        );
    }

    // The same inputs give the same bytes.
    opts.out = dir.path().join("again");
    run(&opts).unwrap();
    let shard = |out: &str| std::fs::read(dir.path().join(out).join("shards/shard-00000.parquet"));
    assert_eq!(shard("mixed").unwrap(), shard("again").unwrap());
}

#[test]
fn shuffled_passes_hand_out_every_document_once_per_pass_in_new_orders() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.parquet");
    let texts: Vec<String> = (0..30)
        .map(|i| format!("document {i} of the corpus"))
        .collect();
    write_corpus(&corpus, &texts);
    let mut opts = options(&corpus, &dir.path().join("passes"));
    opts.shuffle = true;
    opts.seed = 5;
    opts.steps = Some(12);
    let summary = run(&opts).unwrap();
    assert!(
        summary.corpus_passes >= 3,
        "{} passes",
        summary.corpus_passes
    );
    let (manifest, rows) = read_shards(&dir.path().join("passes"));
    let tokenizer = TextTokenizer::load(&dir.path().join("passes/tokenizer.json")).unwrap();
    let stream: Vec<u32> = rows.iter().flat_map(|r| r.tokens.clone()).collect();
    let documents: Vec<String> = stream
        .split(|&t| t == manifest.eos_token_id)
        .map(|d| decode(&tokenizer, d))
        .collect();
    let passes: Vec<&[String]> = documents.chunks(30).take(2).collect();
    for pass in &passes {
        let mut sorted = pass.to_vec();
        sorted.sort();
        let mut expected = texts.clone();
        expected.sort();
        assert_eq!(sorted, expected, "a pass holds every document once");
    }
    assert_ne!(passes[0], passes[1], "each pass has its own order");
    assert_ne!(passes[0], &texts[..], "the first pass is shuffled too");
}

fn error(opts: &inject::Options) -> String {
    format!("{:#}", run(opts).unwrap_err())
}

#[test]
fn qa_and_shuffle_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.parquet");
    write_corpus(&corpus, &common::corpus_texts(50, 2));
    let qa = dir.path().join("qa.parquet");
    write_rows(&qa, &pairs()).unwrap();
    let with_qa = |share: f64, seq_len: usize, steps: Option<u32>| {
        let mut opts = options(&corpus, &dir.path().join("out"));
        opts.seq_len = seq_len;
        opts.steps = steps;
        opts.qa = Some(QaOptions {
            path: qa.clone(),
            split: QaSplit::Train,
            share,
        });
        opts
    };
    assert!(error(&with_qa(1.0, 48, None)).contains("--steps"));
    assert!(error(&with_qa(0.1, 48, Some(2))).contains("rounds to no QA row"));
    assert!(error(&with_qa(1.5, 48, Some(2))).contains("--qa-share"));
    let short = error(&with_qa(1.0, 8, Some(2)));
    assert!(
        short.contains("qa.parquet") && short.contains("--seq-len 8"),
        "{short}"
    );
    // A file with test pairs only has nothing to finetune on.
    write_rows(&qa, &pairs()[3..]).unwrap();
    let opts = with_qa(1.0, 48, Some(2));
    assert!(error(&opts).contains("no question"));
    let mut shuffled = options(&corpus, &dir.path().join("out"));
    shuffled.shuffle = true;
    assert!(error(&shuffled).contains("--steps"));
    assert!(!Path::new(&dir.path().join("out/shards/manifest.json")).exists());
}
