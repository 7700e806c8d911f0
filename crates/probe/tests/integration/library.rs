//! The library on a small random model saved as a checkpoint, with a word-level tokenizer:
//! every number `probe` writes is recomputed here from the model's own forward pass.

use std::path::{Path, PathBuf};

use candle_core::Device;
use factlab_artifacts::{read_hidden, read_rows, write_rows, BioEntry, ChoiceOption, QaPair};
use factlab_model::checkpoint::save_model;
use factlab_model::{ids_tensor, Llama, ModelConfig, Params};
use indicatif::ProgressBar;
use probe::{HiddenInput, HiddenOptions, LayerSpec, LoadedModel, PositionSpec};

const WORDS: [&str; 24] = [
    "<|endoftext|>",
    "<unk>",
    "Ann",
    "Lee",
    "Moss",
    "was",
    "born",
    "in",
    "Paris",
    "Oslo",
    "Lima",
    "Rome",
    ".",
    "She",
    "studied",
    "at",
    "Yale",
    "Where",
    "is",
    "?",
    "Answer",
    ":",
    "the",
    "city",
];

fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i.into()))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false,
            "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    })
    .to_string()
}

fn config(vocab: usize) -> ModelConfig {
    ModelConfig {
        hidden_size: 16,
        intermediate_size: 24,
        num_layers: 2,
        num_heads: 2,
        vocab_size: Some(vocab),
        max_position_embeddings: 32,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: false,
        // Wide, so that greedy answers differ between prompts.
        initializer_range: 0.5,
        bos_token_id: None,
        eos_token_id: Some(0),
    }
}

/// A checkpoint folder and a tokenizer file in `dir`.
fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let checkpoint = dir.join("step-000001");
    std::fs::create_dir_all(&checkpoint).unwrap();
    let config = config(WORDS.len());
    let params = Params::init(&config, 4, &Device::Cpu).unwrap();
    save_model(&checkpoint, &config, &params).unwrap();
    let tokenizer = dir.join("tokenizer.json");
    std::fs::write(&tokenizer, tokenizer_json()).unwrap();
    (checkpoint, tokenizer)
}

fn load(dir: &Path) -> LoadedModel {
    let (checkpoint, tokenizer) = fixture(dir);
    LoadedModel::load(&checkpoint, &tokenizer, "cpu").unwrap()
}

fn ids(words: &str) -> Vec<u32> {
    words
        .split(' ')
        .map(|w| WORDS.iter().position(|v| *v == w).unwrap() as u32)
        .collect()
}

/// Log-softmax of the logits `forward` gives for a single sequence.
fn direct_logprobs(model: &Llama, sequence: &[u32]) -> Vec<Vec<f64>> {
    let logits = model
        .forward(&ids_tensor(&[sequence.to_vec()], &Device::Cpu).unwrap())
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    logits
        .iter()
        .map(|row| {
            let row: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let log_z = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
            row.iter().map(|x| x - log_z).collect()
        })
        .collect()
}

#[test]
fn option_scores_are_sums_of_token_logprobs_from_the_forward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(dir.path());
    let option = |question_id, option_id, completion: &str, correct| ChoiceOption {
        question_id,
        option_id,
        prompt: "Ann was born in".into(),
        completion: completion.into(),
        correct,
        split: "birth-city".into(),
        subset: if question_id == 0 { "first" } else { "second" }.into(),
    };
    let choices = vec![
        option(0, 0, " Paris", 1),
        option(0, 1, " Oslo .", 0),
        option(0, 2, " the city Lima", 0),
        option(1, 0, " Rome", 0),
        option(1, 1, " Yale", 1),
    ];
    let scores = probe::score_options(&loaded, &choices, 2, &ProgressBar::hidden()).unwrap();
    for (choice, score) in choices.iter().zip(&scores) {
        let context = [vec![0], ids("Ann was born in")].concat();
        let target = ids(choice.completion.trim_start());
        let sequence = [context.clone(), target.clone()].concat();
        let logprobs = direct_logprobs(&loaded.model, &sequence);
        let sum: f64 = (context.len()..sequence.len())
            .map(|i| logprobs[i - 1][sequence[i] as usize])
            .sum();
        assert!((score.logprob_sum - sum).abs() < 1e-4, "{score:?} vs {sum}");
        assert_eq!(score.tokens as usize, target.len());
        assert!((score.logprob_mean - sum / target.len() as f64).abs() < 1e-4);
        assert_eq!(score.correct, choice.correct);
        assert_eq!(
            (&score.split, &score.subset),
            (&choice.split, &choice.subset)
        );
    }
    for question in [0, 1] {
        let options: Vec<_> = scores
            .iter()
            .filter(|s| s.question_id == question)
            .collect();
        let best = options
            .iter()
            .max_by(|a, b| a.logprob_sum.total_cmp(&b.logprob_sum))
            .unwrap();
        assert_eq!(best.chosen, 1);
        assert_eq!(options.iter().map(|s| s.chosen).sum::<u32>(), 1);
    }
}

#[test]
fn hidden_states_are_the_forward_pass_states_at_the_token_before_each_value() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, tokenizer) = fixture(dir.path());
    let text = "Ann Lee Moss was born in Paris . She studied at Yale in Oslo . She was in Lima \
                at the city Rome .";
    let at = |word: &str| text.find(word).unwrap() as u32;
    let ends = |word: &str| at(word) + word.len() as u32;
    let values = ["Paris", "Yale", "Oslo", "Lima", "the city", "Rome"];
    let entry = BioEntry {
        person_id: 9,
        variant: "single".into(),
        entry: 2,
        text: text.into(),
        value_starts: values.iter().map(|v| at(v)).collect(),
        value_ends: values.iter().map(|v| ends(v)).collect(),
    };
    let bios = dir.path().join("bios.parquet");
    write_rows(&bios, &[entry.clone(), entry]).unwrap();
    let output = dir.path().join("hidden.parquet");
    let summary = probe::hidden(
        &HiddenOptions {
            model: probe::ModelSource {
                checkpoint: checkpoint.clone(),
                tokenizer: tokenizer.clone(),
                device: "cpu".into(),
                batch_size: 4,
            },
            input: HiddenInput::Bios {
                path: bios,
                positions: vec![PositionSpec::Attributes, PositionSpec::Index(1)],
            },
            limit: Some(1),
            layers: vec![LayerSpec::Last, LayerSpec::Index(0), LayerSpec::Index(1)],
            output: output.clone(),
        },
        &ProgressBar::hidden(),
    )
    .unwrap();
    assert_eq!(
        (summary.inputs, summary.rows, summary.width),
        (1, 7 * 3, 16)
    );

    let loaded = LoadedModel::load(&checkpoint, &tokenizer, "cpu").unwrap();
    let sequence = [vec![0], ids(text)].concat();
    let (_, hidden) = loaded
        .model
        .forward_with_hidden(
            &ids_tensor(std::slice::from_ref(&sequence), &Device::Cpu).unwrap(),
            true,
        )
        .unwrap();
    let states = read_hidden(&output).unwrap();
    let mut expected_positions: Vec<(String, usize)> = factlab_artifacts::ATTRIBUTES
        .iter()
        .zip(values)
        .map(|(attribute, value)| {
            let first = ids(value)[0];
            // The value's first token is the first occurrence of that word in the input.
            let index = sequence.iter().position(|&t| t == first).unwrap();
            (attribute.to_string(), index - 1)
        })
        .collect();
    expected_positions.push(("index:1".into(), 1));
    let mut rows = states.iter();
    for (label, index) in &expected_positions {
        for layer in [0, 1, 2] {
            let row = rows.next().unwrap();
            assert_eq!(
                (&row.position, row.token_index as usize, row.layer),
                (label, *index, layer)
            );
            assert_eq!((row.person_id, row.entry), (9, 2));
            let direct = hidden[layer as usize]
                .squeeze(0)
                .unwrap()
                .get(*index)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for (a, b) in row.vector.iter().zip(&direct) {
                assert!((a - b).abs() < 1e-4, "{label} layer {layer}: {a} vs {b}");
            }
        }
    }
    assert!(rows.next().is_none());
}

#[test]
fn exact_match_is_whether_the_greedy_answer_equals_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(dir.path());
    let pair = |question: &str, answer: &str| QaPair {
        person_id: 1,
        attribute: "birth_city".into(),
        question: question.into(),
        answer: answer.into(),
        split: "test".into(),
    };
    let questions = ["Where was Ann born ?", "Where is Yale ?", "Where was Lee ?"];
    let first: Vec<QaPair> = questions.iter().map(|q| pair(q, "Paris")).collect();
    let bar = ProgressBar::hidden();
    let answers = probe::answer(&loaded, &first, 3, 8, &bar).unwrap();
    // Answers that are exactly what the model says, and answers with one word more.
    let mut pairs: Vec<QaPair> = first
        .iter()
        .zip(&answers)
        .map(|(p, a)| pair(&p.question, &a.generated))
        .collect();
    pairs.extend(
        first
            .iter()
            .zip(&answers)
            .map(|(p, a)| pair(&p.question, &format!("{} Rome", a.generated))),
    );
    let batched = probe::answer(&loaded, &pairs, 3, 8, &bar).unwrap();
    let one_by_one: Vec<_> = pairs
        .iter()
        .map(|p| probe::answer(&loaded, std::slice::from_ref(p), 3, 1, &bar).unwrap())
        .collect();
    for (i, answer) in batched.iter().enumerate() {
        assert_eq!(answer, &one_by_one[i][0], "batching changed answer {i}");
        assert_eq!(answer.generated, answers[i % 3].generated);
        assert_eq!(answer.exact_match, u32::from(i < 3), "{answer:?}");
        // The word-level decoder joins words with spaces: " " + answer starts with the first word.
        assert_eq!(answer.first_token_match, 1, "{answer:?}");
    }
    let distinct: std::collections::BTreeSet<_> = answers.iter().map(|a| &a.generated).collect();
    assert!(distinct.len() > 1, "{answers:?}");
    // At most --max-new-tokens words; fewer where the model wrote end-of-text (not decoded).
    assert!(
        answers
            .iter()
            .all(|a| (1..=3).contains(&a.generated.split(' ').count())),
        "{answers:?}"
    );
}

#[test]
fn a_tokenizer_that_does_not_fit_the_checkpoint_is_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, _) = fixture(dir.path());
    let other = dir.path().join("other-tokenizer.json");
    std::fs::write(
        &other,
        tokenizer_json().replace("\"city\":23", "\"city\":23,\"town\":24"),
    )
    .unwrap();
    let error = LoadedModel::load(&checkpoint, &other, "cpu")
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("other-tokenizer.json: the tokenizer has 25 tokens")
            && error.contains("config.json says vocab_size 24"),
        "{error}"
    );
    let error = LoadedModel::load(&dir.path().join("missing"), &other, "cpu")
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("missing: no such checkpoint folder"),
        "{error}"
    );
}

#[test]
fn answers_written_by_generate_read_back_with_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (checkpoint, tokenizer) = fixture(dir.path());
    let qa = dir.path().join("qa.parquet");
    let pair = |person_id, split: &str| QaPair {
        person_id,
        attribute: "major".into(),
        question: "Where was Ann born ?".into(),
        answer: "Paris".into(),
        split: split.into(),
    };
    write_rows(&qa, &[pair(1, "train"), pair(2, "test"), pair(3, "test")]).unwrap();
    let output = dir.path().join("answers.parquet");
    let table = dir.path().join("qa.md");
    let summary = probe::generate(
        &probe::GenerateOptions {
            model: probe::ModelSource {
                checkpoint,
                tokenizer,
                device: "cpu".into(),
                batch_size: 2,
            },
            qa,
            split: probe::Split::Test,
            max_new_tokens: 4,
            output: output.clone(),
            table: Some(table.clone()),
        },
        &ProgressBar::hidden(),
    )
    .unwrap();
    let answers: Vec<factlab_artifacts::Answer> = read_rows(&output).unwrap();
    assert_eq!(
        answers.iter().map(|a| a.person_id).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(summary.questions, 2);
    let table = std::fs::read_to_string(table).unwrap();
    assert!(
        table.contains("| major | 2 |") && table.contains("| all | 2 |"),
        "{table}"
    );
}
