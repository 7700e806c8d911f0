use crate::common;

use std::path::Path;

use common::run;
use factlab_artifacts::{read_rows, write_rows, Injection, Knowledge, ShardRow};
use inject::tokenizer::TextTokenizer;
use inject::{InjectOptions, Options, Summary};

/// Rows of the continuation shards (the pretraining shards have 32).
const SEQ_LEN: usize = 64;

const SCHEDULE: &str = r#"
interval = 3

[[group]]
scenario = "paraphrase"
count = 3
exposures = 3
text = "paraphrases"

[[group]]
scenario = "duplicate"
count = 3
exposures = 3

[[group]]
scenario = "once"
count = 4
exposures = 1
"#;

struct Fixture {
    dir: tempfile::TempDir,
    texts: Vec<String>,
    knowledge: Vec<Knowledge>,
}

impl Fixture {
    fn new(documents: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let texts = common::corpus_texts(documents, 7);
        common::write_corpus(&dir.path().join("corpus.parquet"), &texts);
        let mut knowledge = common::knowledge(12, 3);
        // Item 8 is injected third into row 0 at t = 0 and is too long for the rest of the row.
        let long = knowledge.iter_mut().find(|k| k.id == 8).unwrap();
        long.text = long.text.repeat(8);
        write_rows(&dir.path().join("knowledge.parquet"), &knowledge).unwrap();
        std::fs::write(dir.path().join("schedule.toml"), SCHEDULE).unwrap();
        Fixture {
            dir,
            texts,
            knowledge,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn options(&self, out: &str) -> Options {
        common::options(&self.path("corpus.parquet"), &self.path(out))
    }

    fn pretrain(&self) -> Summary {
        let mut options = self.options("pre");
        options.steps = Some(5);
        options.tokenizer_knowledge = vec![self.path("knowledge.parquet")];
        run(&options).unwrap()
    }

    fn continuation(&self, out: &str) -> Options {
        let mut options = self.options(out);
        options.after = Some(self.path("pre"));
        options.steps = Some(9);
        options.seq_len = SEQ_LEN;
        options.injection = Some(InjectOptions {
            knowledge: self.path("knowledge.parquet"),
            schedule: self.path("schedule.toml"),
            interval: None,
            max_per_step: None,
        });
        options
    }

    /// The corpus token stream from document `first` on, as the shards should contain it.
    fn stream(&self, tokenizer: &TextTokenizer, first: usize) -> Vec<u32> {
        tokenizer
            .encode_documents(&self.texts[first..])
            .unwrap()
            .concat()
    }
}

fn tokenizer_of(out: &Path) -> TextTokenizer {
    TextTokenizer::load(&out.join("tokenizer.json")).unwrap()
}

/// Walks the rows in order against the corpus stream: every corpus row is the next `seq_len`
/// tokens; an injected row holds its texts, then the first tokens of its `seq_len` stream
/// tokens, whose tail was pushed out. Returns the number of stream tokens pushed out.
fn check_stream(
    rows: &[ShardRow],
    injections: &[Injection],
    stream: &[u32],
    seq_len: usize,
) -> u64 {
    let mut position = 0;
    let mut dropped = 0;
    for row in rows {
        assert_eq!(
            row.tokens.len(),
            seq_len,
            "step {} row {}",
            row.step,
            row.row
        );
        let prefix: usize = injections
            .iter()
            .filter(|i| i.step == row.step && i.row == row.row)
            .map(|i| i.length as usize)
            .sum();
        let kept = seq_len - prefix;
        assert_eq!(
            &row.tokens[prefix..],
            &stream[position..position + kept],
            "corpus tokens of step {} row {}",
            row.step,
            row.row
        );
        dropped += prefix as u64;
        position += seq_len;
    }
    dropped
}

#[test]
fn pretraining_shards_hold_the_corpus_stream_in_order() {
    let fixture = Fixture::new(200);
    let summary = fixture.pretrain();
    let out = fixture.path("pre");
    let (manifest, rows) = common::read_shards(&out);
    assert_eq!(
        (
            manifest.start_step,
            manifest.steps,
            manifest.seq_len,
            manifest.batch_size
        ),
        (0, 5, 32, 4)
    );
    // 12 rows per shard file are 3 steps of 4 rows.
    let spans: Vec<_> = manifest
        .shards
        .iter()
        .map(|s| (s.first_step, s.last_step, s.rows))
        .collect();
    assert_eq!(spans, vec![(0, 2, 12), (3, 4, 8)]);
    let order: Vec<(u32, u32)> = rows.iter().map(|r| (r.step, r.row)).collect();
    let expected: Vec<(u32, u32)> = (0..5).flat_map(|s| (0..4).map(move |r| (s, r))).collect();
    assert_eq!(order, expected);
    assert!(rows
        .iter()
        .all(|r| r.source == "corpus" && r.knowledge_ids.is_empty()));

    let tokenizer = tokenizer_of(&out);
    assert_eq!(manifest.eos_token_id, tokenizer.end_of_text());
    let stream = fixture.stream(&tokenizer, 0);
    assert_eq!(check_stream(&rows, &[], &stream, 32), 0);
    assert_eq!(summary.corpus_tokens_packed, 5 * 4 * 32);

    // next_document is the first document that no row touched.
    let ends: Vec<usize> = tokenizer
        .encode_documents(&fixture.texts)
        .unwrap()
        .iter()
        .scan(0, |end, d| {
            *end += d.len();
            Some(*end)
        })
        .collect();
    let started = ends.iter().position(|&end| end >= 5 * 4 * 32).unwrap() + 1;
    assert_eq!(summary.next_document, started as u64);
}

#[test]
fn every_scheduled_text_is_where_injections_parquet_says() {
    let fixture = Fixture::new(400);
    let pre = fixture.pretrain();
    let summary = run(&fixture.continuation("cont")).unwrap();
    let out = fixture.path("cont");
    let (manifest, rows) = common::read_shards(&out);
    assert_eq!((manifest.start_step, manifest.steps), (5, 9));
    assert_eq!(summary.first_document, pre.next_document);
    let tokenizer = tokenizer_of(&out);
    assert!(tokenizer
        .same_as(&tokenizer_of(&fixture.path("pre")))
        .unwrap());

    let injections: Vec<Injection> = read_rows(&out.join("injections.parquet")).unwrap();
    // paraphrase and duplicate: 3 items × 3 exposures; once: 4 items × 1.
    assert_eq!(injections.len(), 3 * 3 + 3 * 3 + 4);
    assert_eq!(summary.injections, injections.len() as u64);
    let item = |id: u32| fixture.knowledge.iter().find(|k| k.id == id).unwrap();
    for injection in &injections {
        let (scenario, exposures) = match injection.knowledge_id {
            0..=2 => ("paraphrase", 3),
            3..=5 => ("duplicate", 3),
            6..=9 => ("once", 1),
            other => panic!("knowledge id {other} was not scheduled"),
        };
        assert_eq!(injection.scenario, scenario);
        assert!(injection.exposure < exposures);
        assert_eq!(
            injection.step,
            5 + 3 * injection.exposure,
            "t = exposure × Δ"
        );
        let expected_variant = if scenario == "paraphrase" {
            injection.exposure
        } else {
            0
        };
        assert_eq!(injection.variant, expected_variant);

        let k = item(injection.knowledge_id);
        let text = match injection.variant {
            0 => &k.text,
            v => &k.paraphrases[v as usize - 1],
        };
        let tokens = &tokenizer.encode_documents(&[text]).unwrap()[0];
        assert_eq!(injection.text_tokens as usize, tokens.len());
        let row = rows
            .iter()
            .find(|r| r.step == injection.step && r.row == injection.row)
            .unwrap();
        let (offset, length) = (injection.offset as usize, injection.length as usize);
        assert_eq!(&row.tokens[offset..offset + length], &tokens[..length]);
        assert!(
            length == tokens.len() || offset + length == SEQ_LEN,
            "a text is whole or cut only at the row's end"
        );
        let position = row
            .knowledge_ids
            .iter()
            .position(|&id| id == injection.knowledge_id)
            .unwrap();
        assert_eq!(row.variants[position], injection.variant);
        assert_eq!(row.source, "injected");
    }
    // At t = 0 ten texts go to a batch of 4 rows: rows share texts, in order.
    let first: Vec<(u32, u32)> = injections
        .iter()
        .filter(|i| i.step == 5)
        .map(|i| (i.row, i.knowledge_id))
        .collect();
    assert_eq!(
        first,
        vec![
            (0, 0),
            (0, 4),
            (0, 8),
            (1, 1),
            (1, 5),
            (1, 9),
            (2, 2),
            (2, 6),
            (3, 3),
            (3, 7)
        ]
    );
    let injected_rows = rows.iter().filter(|r| r.source == "injected").count() as u64;
    assert_eq!(summary.injected_rows, injected_rows);
    assert!(rows
        .iter()
        .filter(|r| r.source == "corpus")
        .all(|r| r.knowledge_ids.is_empty() && r.variants.is_empty()));
    let cut: Vec<u32> = injections
        .iter()
        .filter(|i| i.length < i.text_tokens)
        .map(|i| i.knowledge_id)
        .collect();
    assert!(cut.contains(&8), "the long item is cut: {cut:?}");
    assert_eq!(summary.cut_injections, cut.len() as u64);

    // The injected share of each injection step: the injected tokens over the batch's tokens.
    let mut steps: Vec<u32> = injections.iter().map(|i| i.step).collect();
    steps.dedup();
    assert_eq!(
        summary
            .injected_share
            .iter()
            .map(|s| s.step)
            .collect::<Vec<_>>(),
        steps
    );
    for share in &summary.injected_share {
        let tokens: u64 = injections
            .iter()
            .filter(|i| i.step == share.step)
            .map(|i| u64::from(i.length))
            .sum();
        assert_eq!(share.injected_tokens, tokens);
        // The fixture writes batches of 4 rows.
        assert_eq!(share.share, tokens as f64 / (4 * SEQ_LEN) as f64);
    }

    // The continuation reads unseen documents, and loses only the tokens injection pushed out.
    let stream = fixture.stream(&tokenizer, pre.next_document as usize);
    let dropped = check_stream(&rows, &injections, &stream, SEQ_LEN);
    assert_eq!(dropped, summary.dropped_corpus_tokens);
    assert!(dropped > 0);

    // Items 10 and 11 are in no group: the control, never injected and in no shard row.
    assert_eq!(summary.never_injected, vec![10, 11]);
    for id in &summary.never_injected {
        assert!(injections.iter().all(|i| i.knowledge_id != *id));
        assert!(rows.iter().all(|r| !r.knowledge_ids.contains(id)));
        let control = tokenizer.encode_documents(&[&item(*id).text]).unwrap();
        let text = &control[0][..control[0].len() - 1];
        assert!(
            rows.iter()
                .all(|r| !r.tokens.windows(text.len()).any(|w| w == text)),
            "control item {id}'s text is in a shard row"
        );
    }
}

/// With `max_per_step`, a round's texts go to consecutive steps and each step's share shrinks.
#[test]
fn spread_rounds_put_at_most_k_texts_on_a_step() {
    let fixture = Fixture::new(400);
    fixture.pretrain();
    let mut options = fixture.continuation("spread");
    options.injection.as_mut().unwrap().max_per_step = Some(4);
    let summary = run(&options).unwrap();
    let injections: Vec<Injection> =
        read_rows(&fixture.path("spread").join("injections.parquet")).unwrap();
    assert_eq!(injections.len(), 3 * 3 + 3 * 3 + 4);
    let mut per_step = std::collections::BTreeMap::<u32, u32>::new();
    for injection in &injections {
        *per_step.entry(injection.step).or_default() += 1;
    }
    // Round 0 has 10 texts, 4, 4 and 2 from step 5 on, taking the groups in turn: paraphrase 0,
    // duplicate 3, once 6, paraphrase 1 | duplicate 4, once 7, paraphrase 2, duplicate 5 | once
    // 8, 9. Later rounds keep each item's offset, without the once items.
    assert_eq!(
        per_step.into_iter().collect::<Vec<_>>(),
        vec![(5, 4), (6, 4), (7, 2), (8, 3), (9, 3), (11, 3), (12, 3)]
    );
    // Each item keeps Δ between its own exposures.
    for id in 0..6 {
        let steps: Vec<u32> = injections
            .iter()
            .filter(|i| i.knowledge_id == id)
            .map(|i| i.step)
            .collect();
        assert_eq!(steps.len(), 3);
        assert!(
            steps.windows(2).all(|w| w[1] - w[0] == 3),
            "{id}: {steps:?}"
        );
    }
    let largest = summary.injected_share.iter().map(|s| s.injected_tokens);
    let all_at_once = run(&fixture.continuation("all")).unwrap();
    assert!(
        largest.max()
            < all_at_once
                .injected_share
                .iter()
                .map(|s| s.injected_tokens)
                .max(),
        "spreading lowers the largest injected share"
    );
}

#[test]
fn reruns_are_byte_identical_whatever_the_thread_count() {
    let fixture = Fixture::new(400);
    fixture.pretrain();
    let in_pool = |threads: usize, out: &str| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(&fixture.continuation(out)).unwrap());
        common::folder_bytes(&fixture.path(out))
    };
    let one = in_pool(1, "one");
    assert_eq!(one, in_pool(2, "two"));
    // A rerun into the same folder replaces everything and leaves nothing stale.
    assert_eq!(one, in_pool(2, "one"));
    let names: Vec<String> = one.iter().map(|(p, _)| p.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "inject-summary.json",
            "injections.parquet",
            "shards/manifest.json",
            "shards/shard-00000.parquet",
            "shards/shard-00001.parquet",
            "shards/shard-00002.parquet",
            "tokenizer.json"
        ]
    );
}

#[test]
fn corpus_too_short_is_a_clear_error() {
    let fixture = Fixture::new(20);
    let mut options = fixture.options("pre");
    options.steps = Some(1000);
    let error = format!("{:#}", run(&options).unwrap_err());
    assert!(
        error.contains("corpus.parquet: the corpus ran out after 20 documents"),
        "{error}"
    );
    assert!(!common::manifest_path(&fixture.path("pre")).exists());

    // Without --steps the run takes every whole step the corpus gives.
    options.steps = None;
    let summary = run(&options).unwrap();
    assert!(summary.steps > 0);
    assert!(summary.tokens_tokenized - summary.corpus_tokens_packed < 4 * 32);
}
