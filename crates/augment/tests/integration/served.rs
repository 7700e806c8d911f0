//! The served backend against the stub server: what is asked, what is kept, provenance, the
//! cache on a rerun, faults, the global context and rejected biography rewrites.

use crate::common;

use std::collections::HashMap;
use std::sync::Mutex;

use augment::{Backend, Strategy};
use common::{fact, knowledge, local_reply, local_text, options, statement, stub_client};
use factlab_artifacts::{read_rows, write_rows, AugmentedRow, BioEntry, Knowledge, Person};
use factlab_served::stub::{StubReply, StubServer};
use indicatif::ProgressBar;
use serde_json::Value;

fn documents() -> Vec<Knowledge> {
    vec![
        knowledge(
            0,
            "femp are taller than glon. glon are heavier than yomp.",
            vec![fact("femp", "taller", "glon")],
        ),
        knowledge(1, "All dax are wug. Some wug are blick.", vec![]),
        knowledge(
            2,
            "zorp are brighter than quib. quib are darker than zorp.",
            vec![],
        ),
    ]
}

fn local_stub() -> StubServer {
    StubServer::start(|request| StubReply::chat(&local_reply(statement(request.last_text()))))
}

struct Run {
    rows: Vec<AugmentedRow>,
    bytes: Vec<u8>,
    summary: augment::Summary,
}

fn run_served(
    server: &StubServer,
    cache_dir: &std::path::Path,
    strategies: &[Strategy],
    tweak: impl FnOnce(&mut augment::Options),
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("knowledge.parquet");
    let output = dir.path().join("augmented.parquet");
    write_rows(&input, &documents()).unwrap();
    let mut options = options(&input, &output, strategies, Backend::Served);
    options.served = Some(stub_client(&server.url(), cache_dir));
    tweak(&mut options);
    let summary = augment::run(&options, &ProgressBar::hidden()).unwrap();
    Run {
        rows: read_rows(&output).unwrap(),
        bytes: std::fs::read(&output).unwrap(),
        summary,
    }
}

#[test]
fn local_asks_once_per_sentence_and_records_provenance() {
    let server = local_stub();
    let cache = tempfile::tempdir().unwrap();
    let run = run_served(&server, cache.path(), &[Strategy::Local], |_| {});
    let requests = server.requests();
    assert_eq!(requests.len(), 6);
    let local: Vec<&AugmentedRow> = run.rows.iter().filter(|r| r.strategy == "local").collect();
    assert_eq!(run.rows.len(), 3 + 6);
    let expected: Vec<(u32, String)> = documents()
        .iter()
        .flat_map(|d| {
            augment::sentences(&d.text)
                .into_iter()
                .map(|s| (d.id, local_text(s)))
                .collect::<Vec<_>>()
        })
        .collect();
    let got: Vec<(u32, String)> = local
        .iter()
        .map(|r| (r.source_id, r.text.clone()))
        .collect();
    assert_eq!(got, expected, "one row per sentence, in input order");
    for row in &local {
        assert_eq!(row.backend, "served");
        assert_eq!(row.model.as_deref(), Some("stub-model"));
        assert_eq!(row.prompt_hash.as_ref().unwrap().len(), 64);
        assert_eq!(
            (row.temperature, row.top_p, row.max_tokens),
            (Some(0.7), Some(0.95), Some(256))
        );
        let seed = row.sample_seed.unwrap();
        assert!(seed < 1 << 31);
        let sent = requests
            .iter()
            .find(|q| local_text(statement(q.last_text())) == row.text)
            .unwrap();
        assert_eq!(sent.body["seed"], Value::from(seed));
        // System message, three few-shot pairs, the query.
        assert_eq!(sent.body["messages"].as_array().unwrap().len(), 8);
    }
    assert_eq!(run.summary.requests.sent, 6);
}

#[test]
fn a_rerun_reads_every_reply_from_the_cache_and_writes_the_same_bytes() {
    let server = local_stub();
    let cache = tempfile::tempdir().unwrap();
    let first = run_served(
        &server,
        cache.path(),
        &[Strategy::Local, Strategy::Paraphrase],
        |_| {},
    );
    let sent = server.requests().len();
    assert_eq!(sent, 6 + 3 * 2);
    let second = run_served(
        &server,
        cache.path(),
        &[Strategy::Local, Strategy::Paraphrase],
        |_| {},
    );
    assert_eq!(
        server.requests().len(),
        sent,
        "a cached request was sent again"
    );
    assert_eq!(second.summary.requests.cache_hits, sent as u64);
    assert_eq!(first.bytes, second.bytes);
}

#[test]
fn faults_on_the_way_and_the_thread_count_change_nothing_in_the_output() {
    // One request at a time, no faults: the reference.
    let clean = run_served(
        &local_stub(),
        tempfile::tempdir().unwrap().path(),
        &[Strategy::Local],
        |o| o.served.as_mut().unwrap().concurrency = 1,
    );
    let faulty = StubServer::start(|request| match request.seen {
        1 => StubReply::status(500),
        2 => StubReply::status(429),
        3 => StubReply::malformed(),
        _ => StubReply::chat(&local_reply(statement(request.last_text()))),
    });
    let run = run_served(
        &faulty,
        tempfile::tempdir().unwrap().path(),
        &[Strategy::Local],
        |_| {},
    );
    assert_eq!(run.bytes, clean.bytes);
    assert_eq!(run.summary.requests.retries, 6 * 3);
}

#[test]
fn rewrite_bio_needs_people_a_model_and_a_run_of_its_own() {
    let server = local_stub();
    let dir = tempfile::tempdir().unwrap();
    let people = vec![person(0, "Ada Mira Quell")];
    let (bios, people_path) = (
        dir.path().join("bios.parquet"),
        dir.path().join("people.parquet"),
    );
    write_rows(&bios, &people.iter().map(entry).collect::<Vec<_>>()).unwrap();
    write_rows(&people_path, &people).unwrap();
    let output = dir.path().join("out.parquet");
    let attempt = |strategies: &[Strategy], backend: Backend, with_people: bool| {
        let mut options = options(&bios, &output, strategies, backend);
        options.people = with_people.then(|| people_path.clone());
        options.served = Some(stub_client(&server.url(), dir.path()));
        format!(
            "{:#}",
            augment::run(&options, &ProgressBar::hidden()).unwrap_err()
        )
    };
    assert!(attempt(&[Strategy::RewriteBio], Backend::Served, false).contains("--people"));
    assert!(attempt(&[Strategy::RewriteBio], Backend::Rules, true).contains("--backend served"));
    let mixed = attempt(
        &[Strategy::RewriteBio, Strategy::Local],
        Backend::Served,
        true,
    );
    assert!(mixed.contains("separately"), "{mixed}");
    assert!(server.requests().is_empty());
    assert!(!output.exists());
}

/// The target document of a global request: what follows the last heading.
fn target_of(prompt: &str) -> &str {
    prompt.rsplit("Target document:\n\n").next().unwrap()
}

#[test]
fn global_puts_the_other_documents_first_and_samples_them_to_fit_the_context() {
    let server = StubServer::start(|_| StubReply::chat("An inference."));
    let cache = tempfile::tempdir().unwrap();
    run_served(&server, cache.path(), &[Strategy::Global], |_| {});
    let texts: Vec<String> = documents().into_iter().map(|d| d.text).collect();
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let mut overhead = 0;
    for request in &requests {
        let prompt = request.last_text();
        let target = texts.iter().position(|t| t == target_of(prompt)).unwrap();
        for (other, text) in texts.iter().enumerate() {
            assert_eq!(
                prompt.matches(text.as_str()).count(),
                1,
                "document {other} in {prompt}"
            );
        }
        let system = request.body["messages"][0]["content"].as_str().unwrap();
        let others: usize =
            texts.iter().map(|t| t.len() + 2).sum::<usize>() - texts[target].len() - 2;
        overhead = system.len() + prompt.len() - texts[target].len() - (others - 2);
    }
    // Room beside the prompt and the target for one other document, not two (the documents
    // are 36 to 55 bytes long): each target gets a seeded sample of one.
    let shortest = texts.iter().map(String::len).min().unwrap();
    let context_tokens = (overhead + shortest + 60).div_ceil(4);
    let run = || {
        let server = StubServer::start(|_| StubReply::chat("An inference."));
        run_served(
            &server,
            tempfile::tempdir().unwrap().path(),
            &[Strategy::Global],
            |o| o.context_tokens = context_tokens,
        );
        let mut prompts: Vec<String> = server
            .requests()
            .iter()
            .map(|r| r.last_text().to_string())
            .collect();
        prompts.sort();
        prompts
    };
    let prompts = run();
    assert_eq!(prompts.len(), 3);
    for prompt in &prompts {
        let others = texts
            .iter()
            .filter(|t| t.as_str() != target_of(prompt) && prompt.contains(t.as_str()))
            .count();
        assert_eq!(others, 1, "{prompt}");
    }
    assert_eq!(run(), prompts, "the sample depends on the seed only");
}

fn person(person_id: u32, name: &str) -> Person {
    let parts: Vec<&str> = name.split(' ').collect();
    Person {
        person_id,
        name: name.into(),
        first_name: parts[0].into(),
        middle_name: parts[1].into(),
        last_name: parts[2].into(),
        birth_date: "May 1, 1990".into(),
        birth_city: "Quillby, TX".into(),
        university: "Orlen College".into(),
        major: "botany".into(),
        employer: "Dask Works".into(),
        company_city: "Fenmore, WA".into(),
        pronoun: "she".into(),
        split: "train".into(),
        group: "all".into(),
    }
}

fn entry(person: &Person) -> BioEntry {
    let mut text = person.name.clone();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for (lead, value) in [
        " was born on ",
        ". She was born in ",
        ". She studied at ",
        ". She majored in ",
        ". She worked for ",
        ". She lived in ",
    ]
    .iter()
    .zip(person.values())
    {
        text.push_str(lead);
        starts.push(text.len() as u32);
        text.push_str(value);
        ends.push(text.len() as u32);
    }
    text.push('.');
    BioEntry {
        person_id: person.person_id,
        variant: "single".into(),
        entry: 0,
        text,
        value_starts: starts,
        value_ends: ends,
    }
}

#[test]
fn rewrites_missing_an_attribute_are_asked_again_and_reported_when_none_pass() {
    let people = vec![person(0, "Ada Mira Quell"), person(1, "Bo Tarn Vesk")];
    let dir = tempfile::tempdir().unwrap();
    let (bios, people_path) = (
        dir.path().join("bios.parquet"),
        dir.path().join("people.parquet"),
    );
    write_rows(&bios, &people.iter().map(entry).collect::<Vec<_>>()).unwrap();
    write_rows(&people_path, &people).unwrap();
    // Ada's first rewrite drops her university, the second keeps everything; Bo's always drops
    // the employer.
    let asked: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
    let server = StubServer::start(move |request| {
        let prompt = request.last_text();
        let name = if prompt.contains("Ada Mira Quell") {
            "Ada Mira Quell"
        } else {
            "Bo Tarn Vesk"
        };
        let mut counts = asked.lock().unwrap();
        let n = counts.entry(name.to_string()).or_default();
        *n += 1;
        let full = format!(
            "{name}, born May 1, 1990 in Quillby, TX, read botany at Orlen College and joined Dask Works in Fenmore, WA."
        );
        let text = match (name, *n) {
            ("Ada Mira Quell", 1) => full.replace("Orlen College", "college"),
            ("Ada Mira Quell", _) => full,
            _ => full.replace("Dask Works", "a firm"),
        };
        StubReply::chat(&text)
    });
    let output = dir.path().join("bior.parquet");
    let mut options = options(&bios, &output, &[Strategy::RewriteBio], Backend::Served);
    options.people = Some(people_path);
    options.served = Some(stub_client(&server.url(), dir.path()));
    let summary = augment::run(&options, &ProgressBar::hidden()).unwrap();

    assert_eq!(
        server.requests().len(),
        2 + 3,
        "Ada twice, Bo --max-attempts times"
    );
    assert_eq!(summary.rejected.len(), 1);
    assert!(
        summary.rejected[0].contains("person 1 (Bo Tarn Vesk)"),
        "{}",
        summary.rejected[0]
    );
    assert!(
        summary.rejected[0].contains("`Dask Works`"),
        "{}",
        summary.rejected[0]
    );
    let rows: Vec<AugmentedRow> = read_rows(&output).unwrap();
    let rewrites: Vec<&AugmentedRow> = rows
        .iter()
        .filter(|r| r.strategy == "rewrite-bio")
        .collect();
    assert_eq!(rows.len(), 2 + 1);
    assert_eq!(rewrites.len(), 1);
    assert_eq!(rewrites[0].source_id, 0);
    assert!(rewrites[0].text.contains("Orlen College"));
    assert_eq!(rewrites[0].dataset, "bios");
    // The kept rewrite is the second attempt's: its seed is the one sent second for Ada.
    let ada: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.last_text().contains("Ada Mira Quell"))
        .map(|r| r.body["seed"].clone())
        .collect();
    assert_eq!(ada.len(), 2);
    assert_ne!(ada[0], ada[1]);
    assert_eq!(Value::from(rewrites[0].sample_seed.unwrap()), ada[1]);
}
