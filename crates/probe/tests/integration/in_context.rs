//! `probe score-in-context` against a stub server whose "model" prefers words it has seen in
//! the prompt's documents: the option stated by a document wins only when the document is in
//! context, the scored tokens are exactly the option's, and a rerun with the cache sends nothing.

use std::path::Path;
use std::process::Command;

use factlab_artifacts::{read_rows, write_rows, ChoiceOption, CorpusDocument, OptionScore};
use factlab_served::stub::{StubReply, StubRequest, StubServer};
use serde_json::json;

const PREFIX: &str = "<s>";

/// Echoes the prompt as space-led word tokens plus one generated token. A word seen earlier in
/// the prompt scores −0.5, an unseen one −3. With `after_prefix`, offsets count from after a
/// leading PREFIX token (as llama.cpp's server does), else from the prompt's start.
fn echo_model(request: &StubRequest, after_prefix: bool) -> StubReply {
    let prompt = request.last_text();
    let (prefix, text) = match prompt.strip_prefix(PREFIX) {
        Some(rest) => (PREFIX, rest),
        None => ("", prompt),
    };
    let mut tokens = Vec::new();
    let mut offsets = Vec::new();
    let mut logprobs = Vec::new();
    if !prefix.is_empty() {
        tokens.push(prefix.to_string());
        offsets.push(0);
        logprobs.push(serde_json::Value::Null);
    }
    let base = if after_prefix { 0 } else { prefix.len() };
    let mut start = 0;
    let bytes = text.as_bytes();
    for end in 1..=bytes.len() {
        if end == bytes.len() || bytes[end] == b' ' {
            let token = &text[start..end];
            let seen = text[..start].contains(token.trim());
            tokens.push(token.to_string());
            offsets.push(base + start);
            logprobs.push(if tokens.len() == 1 {
                serde_json::Value::Null
            } else {
                json!(if seen { -0.5 } else { -3.0 })
            });
            start = end;
        }
    }
    tokens.push(" next".into());
    offsets.push(base + text.len());
    logprobs.push(json!(-1.0));
    StubReply::completion(
        " next",
        json!({"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets,
               "top_logprobs": null}),
    )
}

fn option(question_id: u32, option_id: u32, completion: &str, correct: u32) -> ChoiceOption {
    ChoiceOption {
        question_id,
        option_id,
        prompt: "glon are".into(),
        completion: completion.into(),
        correct,
        split: "reversals".into(),
        subset: "danger".into(),
    }
}

fn write_inputs(dir: &Path) {
    let options = vec![
        option(0, 0, " more dangerous than femp", 0),
        option(0, 1, " less dangerous than femp", 1),
    ];
    write_rows(&dir.join("options.parquet"), &options).unwrap();
    let documents = vec![
        CorpusDocument {
            text: "Remember that glon are less dangerous than femp.".into(),
        },
        CorpusDocument {
            text: "Did you know that troff are brighter than yomp.".into(),
        },
    ];
    write_rows(&dir.join("knowledge.parquet"), &documents).unwrap();
}

fn score(dir: &Path, server: &StubServer, extra: &[&str]) -> Vec<OptionScore> {
    let output = Command::new(env!("CARGO_BIN_EXE_probe"))
        .current_dir(dir)
        .args([
            "score-in-context",
            "--endpoint",
            &server.url(),
            "--model",
            "stub",
            "--options",
            "options.parquet",
            "-o",
            "scores.parquet",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    read_rows(&dir.join("scores.parquet")).unwrap()
}

#[test]
fn the_document_in_context_decides_and_only_the_option_is_scored() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let server = StubServer::start(|request| echo_model(request, false));

    // Without documents neither option's words were seen: equal sums, the first option wins.
    let alone = score(dir.path(), &server, &[]);
    assert_eq!(alone[0].chosen, 1);
    assert_eq!(alone[0].logprob_sum, alone[1].logprob_sum);

    let scores = score(
        dir.path(),
        &server,
        &["--context", "knowledge.parquet", "--cache", "cache.jsonl"],
    );
    // Four tokens: " less", " dangerous", " than", " femp"; all seen in the document.
    assert_eq!(scores[1].tokens, 4);
    assert_eq!(scores[1].logprob_sum, -2.0);
    // " more" unseen, the other three seen.
    assert_eq!(scores[0].logprob_sum, -3.0 - 1.5);
    assert_eq!((scores[0].chosen, scores[1].chosen), (0, 1));
    assert_eq!(scores[1].split, "reversals");

    // Only the document that shares the question's words was put in context.
    let sent = server.requests();
    let prompt = sent.last().unwrap().last_text().to_string();
    assert!(
        prompt.starts_with(
            "Use the facts in the following documents to answer.\n\nRemember that glon"
        ),
        "{prompt}"
    );
    assert!(!prompt.contains("troff"), "{prompt}");

    // A rerun answers from the cache: nothing more reaches the server, the same bytes come out.
    let before = std::fs::read(dir.path().join("scores.parquet")).unwrap();
    let count = server.requests().len();
    score(
        dir.path(),
        &server,
        &["--context", "knowledge.parquet", "--cache", "cache.jsonl"],
    );
    assert_eq!(server.requests().len(), count);
    assert_eq!(
        std::fs::read(dir.path().join("scores.parquet")).unwrap(),
        before
    );
}

#[test]
fn offsets_counted_after_a_begin_of_text_prefix_are_aligned() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    for after_prefix in [true, false] {
        let server = StubServer::start(move |request| echo_model(request, after_prefix));
        let scores = score(
            dir.path(),
            &server,
            &["--context", "knowledge.parquet", "--bos-prefix", PREFIX],
        );
        assert_eq!(scores[1].tokens, 4, "after_prefix {after_prefix}");
        assert_eq!(scores[1].logprob_sum, -2.0, "after_prefix {after_prefix}");
        assert!(server.requests()[0].last_text().starts_with(PREFIX));
    }
}

#[test]
fn a_server_without_echoed_logprobs_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let server = StubServer::start(|_| StubReply::completion(" x", serde_json::Value::Null));
    let output = Command::new(env!("CARGO_BIN_EXE_probe"))
        .current_dir(dir.path())
        .args([
            "score-in-context",
            "--endpoint",
            &server.url(),
            "--model",
            "stub",
            "--retries",
            "0",
            "--options",
            "options.parquet",
            "-o",
            "scores.parquet",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("logprobs"), "{stderr}");
    assert!(!dir.path().join("scores.parquet").exists());
}
