//! `augment` killed with SIGKILL in the middle of a served run and run again: the rerun sends
//! no request whose reply was in the cache at the kill, every sentence ends up augmented
//! exactly once, and the output is byte-identical to an uninterrupted run's.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{knowledge, local_reply, local_text, statement};
use factlab_artifacts::{read_rows, write_rows, AugmentedRow, Knowledge};
use factlab_served::stub::{StubReply, StubServer};
use serde_json::Value;

const DOCUMENTS: u32 = 12;

fn documents() -> Vec<Knowledge> {
    (0..DOCUMENTS)
        .map(|i| {
            let text = format!(
                "vask{i} are taller than mip{i}. mip{i} are older than dro{i}. dro{i} are red."
            );
            knowledge(i, &text, vec![])
        })
        .collect()
}

fn all_sentences() -> Vec<String> {
    documents()
        .iter()
        .flat_map(|d| {
            augment::sentences(&d.text)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn command(server: &StubServer, dir: &Path, output: &str, cache: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_augment"));
    command
        .current_dir(dir)
        .args([
            "-i",
            "knowledge.parquet",
            "-o",
            output,
            "--strategy",
            "local",
        ])
        .args([
            "--endpoint",
            &server.url(),
            "--model",
            "stub-model",
            "--cache",
            cache,
        ])
        .args(["--concurrency", "2", "--backoff", "0.001", "--quiet"])
        .arg("--prompts")
        .arg(common::repo_root().join("data/augment"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The sentences whose replies are in the cache file (complete lines only, as a reader sees
/// them after the kill).
fn cached_sentences(cache: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(cache).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            let reply = record["reply"]["choices"][0]["message"]["content"]
                .as_str()
                .unwrap();
            let first = reply.lines().nth(1).unwrap();
            first.strip_prefix("1. Restated ").unwrap().to_string()
        })
        .collect()
}

/// Requests per sentence among `requests`.
fn counts(requests: &[factlab_served::stub::StubRequest]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in requests {
        *counts
            .entry(statement(request.last_text()).to_string())
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn a_run_killed_mid_way_resumes_without_resending_cached_requests() {
    let dir = tempfile::tempdir().unwrap();
    write_rows(&dir.path().join("knowledge.parquet"), &documents()).unwrap();
    let sentences = all_sentences();
    let jobs = sentences.len();
    // Slow replies, so that the kill lands while requests are still outstanding.
    let server = StubServer::start(|request| {
        StubReply::chat(&local_reply(statement(request.last_text())))
            .after(Duration::from_millis(40))
    });

    let cache = dir.path().join("requests.jsonl");
    let mut child = command(&server, dir.path(), "augmented.parquet", "requests.jsonl")
        .spawn()
        .unwrap();
    let start = Instant::now();
    while cached_sentences(&cache).len() < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "augment ended before the kill"
        );
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Requests whose bytes left the killed process are logged by the stub's own threads; give
    // them time to land in the first run's share of the log.
    std::thread::sleep(Duration::from_millis(200));
    let cached_at_kill = cached_sentences(&cache);
    let sent_before = server.requests().len();
    assert!(
        cached_at_kill.len() < jobs,
        "the kill came after every reply was cached; nothing is left to resume"
    );
    assert!(
        !dir.path().join("augmented.parquet").exists(),
        "a partial output was left"
    );

    let resumed = command(&server, dir.path(), "augmented.parquet", "requests.jsonl")
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let all_requests = server.requests();
    let (first_run, second_run) = all_requests.split_at(sent_before);
    let (first, second) = (counts(first_run), counts(second_run));

    // (a) A sentence whose reply was in the cache at the kill is not requested by the rerun.
    for sentence in &cached_at_kill {
        assert_eq!(
            second.get(sentence),
            None,
            "{sentence} was cached yet sent again"
        );
    }
    // (b) Every other sentence is requested by the rerun exactly once, and was requested at
    //     most once before the kill (in flight, never answered into the cache).
    for sentence in &sentences {
        if !cached_at_kill.contains(sentence) {
            assert_eq!(second.get(sentence), Some(&1), "{sentence}");
        }
        assert!(first.get(sentence).copied().unwrap_or(0) <= 1, "{sentence}");
    }
    // (c) Every sentence is augmented exactly once, by its own reply, in input order.
    let rows: Vec<AugmentedRow> = read_rows(&dir.path().join("augmented.parquet")).unwrap();
    let local: Vec<String> = rows
        .iter()
        .filter(|r| r.strategy == "local")
        .map(|r| r.text.clone())
        .collect();
    let expected: Vec<String> = sentences.iter().map(|s| local_text(s)).collect();
    assert_eq!(local, expected);
    assert_eq!(
        rows.iter().filter(|r| r.strategy == "original").count(),
        DOCUMENTS as usize
    );

    // (d) The same bytes as a run never interrupted (its own cache, so it asks everything).
    let clean = command(&server, dir.path(), "clean.parquet", "clean.jsonl")
        .output()
        .unwrap();
    assert!(clean.status.success());
    assert_eq!(server.requests().len(), all_requests.len() + jobs);
    assert_eq!(
        std::fs::read(dir.path().join("clean.parquet")).unwrap(),
        std::fs::read(dir.path().join("augmented.parquet")).unwrap()
    );
}
