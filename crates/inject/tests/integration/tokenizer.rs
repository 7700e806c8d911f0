use crate::common;

use inject::tokenizer::{TextTokenizer, END_OF_TEXT, MAX_PIECE_BYTES};
use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer};

fn train_in_pool(threads: usize, texts: &[String]) -> TextTokenizer {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| TextTokenizer::train(texts.iter(), 400).unwrap())
}

#[test]
fn trained_tokenizer_round_trips_the_corpus() {
    let texts = common::corpus_texts(300, 1);
    let tokenizer = train_in_pool(2, &texts);
    assert_eq!(tokenizer.vocab_size(), 400);
    assert_eq!(tokenizer.end_of_text(), 0, "the special token comes first");
    for text in &texts {
        let ids = tokenizer.encode(text).unwrap();
        assert_eq!(&tokenizer.decode(&ids).unwrap(), text);
    }
    // Text the tokenizer never saw still round-trips: byte-level BPE has no unknown token.
    let unseen = "Ünïcødé ✓ never seen \u{0}\r\n  ";
    let ids = tokenizer.encode(unseen).unwrap();
    assert_eq!(tokenizer.decode(&ids).unwrap(), unseen);
    let with_eos = tokenizer.encode_documents(&[unseen]).unwrap();
    assert_eq!(with_eos[0].last(), Some(&tokenizer.end_of_text()));
    assert!(tokenizer
        .decode(&with_eos[0])
        .unwrap()
        .ends_with(END_OF_TEXT));
}

#[test]
fn training_is_byte_identical_whatever_the_thread_count() {
    let texts = common::corpus_texts(300, 2);
    let one = train_in_pool(1, &texts);
    let two = train_in_pool(2, &texts);
    let again = train_in_pool(2, &texts);
    assert_eq!(one.json(), two.json());
    assert_eq!(two.json(), again.json());
}

#[test]
fn saved_tokenizer_loads_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = train_in_pool(2, &common::corpus_texts(100, 3));
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, tokenizer.json()).unwrap();
    let loaded = TextTokenizer::load(&path).unwrap();
    assert!(loaded.same_as(&tokenizer).unwrap());
    assert_eq!(loaded.json(), tokenizer.json());
}

#[test]
fn unusable_tokenizer_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let error = TextTokenizer::load(&garbage).err().unwrap().to_string();
    assert!(
        error.contains("garbage.json") && error.contains("not a Hugging Face tokenizer.json"),
        "{error}"
    );

    // A valid tokenizer without <|endoftext|>: drop the added token from a trained one.
    let tokenizer = train_in_pool(1, &common::corpus_texts(50, 4));
    let mut json: serde_json::Value = serde_json::from_str(tokenizer.json()).unwrap();
    json["added_tokens"] = serde_json::json!([]);
    let vocab = json["model"]["vocab"].as_object_mut().unwrap();
    vocab.remove(END_OF_TEXT);
    let no_eos = dir.path().join("no-eos.json");
    std::fs::write(&no_eos, json.to_string()).unwrap();
    let error = TextTokenizer::load(&no_eos).err().unwrap().to_string();
    assert!(
        error.contains("no-eos.json") && error.contains(END_OF_TEXT),
        "{error}"
    );

    let error = TextTokenizer::train(["a"].iter(), 100)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("--vocab-size 100 is too small"), "{error}");
}

#[test]
fn fast_encoder_gives_the_ids_of_the_tokenizers_crate() {
    let texts = common::corpus_texts(300, 6);
    let tokenizer = train_in_pool(2, &texts);
    assert!(tokenizer.has_fast_path());
    let awkward = [
        "",
        " ",
        "   ",
        "a  b",
        "a \n b",
        "\t\tb",
        "x \t",
        "trailing spaces   ",
        " \u{a0}\u{3000}x\u{2028}y",
        "it's they'll we'd I'M 'sam ''s ?'s",
        "٣٤ 12.5 Ⅻ ½x",
        "e\u{301}cole और हिन्दी 東京タワー 🚀🚀 a🚀b",
        "<|endoftext|>",
        "a<|endoftext|>b <|endoftext|><|endoftext|> c",
        "<|endoftext|  <|endoftext",
        "\r\n\r\n  \n\t x",
        "!!! ... --- ((x)) \"q\"",
    ];
    // Pieces longer than the cap, cut inside a character too (3-byte CJK, 4-byte emoji).
    let cap = MAX_PIECE_BYTES;
    let long = [
        "x".repeat(cap),
        "x".repeat(cap + 1),
        format!("a {} b", "y".repeat(3 * cap + 7)),
        "東".repeat(cap),
        format!("a{}", "🚀".repeat(cap)),
        " ".repeat(2 * cap + 3) + "z",
        "9".repeat(5 * cap),
        format!("{}<|endoftext|>{}", "q".repeat(cap + 5), "é".repeat(cap)),
    ];
    let awkward = awkward.iter().map(|t| t.to_string()).chain(long);
    for text in awkward.chain(texts) {
        assert_eq!(
            tokenizer.encode(&text).unwrap(),
            tokenizer.encode_reference(&text).unwrap(),
            "{text:?}"
        );
    }
}

/// The pieces the tokenizer's pre-tokenizer makes of `text` (byte-level symbols, one per byte).
fn pre_tokenize(tokenizer: &Tokenizer, text: &str) -> Vec<String> {
    let mut pieces = PreTokenizedString::from(text);
    tokenizer
        .get_pre_tokenizer()
        .expect("a pre-tokenizer")
        .pre_tokenize(&mut pieces)
        .unwrap();
    pieces
        .get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .map(|(piece, _, _)| piece.to_string())
        .collect()
}

/// One word of 200,000 characters: training used to be quadratic in it (seconds per 100k
/// characters, a 2 MB run never finished). Its pieces are now at most the cap, and the file that
/// is saved cuts the same way when loaded again (as by Python's `tokenizers`).
#[test]
fn long_runs_are_cut_at_the_cap_in_training_and_in_the_saved_tokenizer() {
    let mut texts = common::corpus_texts(200, 7);
    let word: String = (0..200_000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    texts.push(format!("before {word} after"));
    let tokenizer = train_in_pool(2, &texts);
    let saved: Tokenizer = tokenizer.json().parse().unwrap();

    let pieces = pre_tokenize(&saved, &word);
    assert_eq!(pieces.len(), 200_000usize.div_ceil(MAX_PIECE_BYTES));
    assert!(pieces.iter().all(|p| p.chars().count() <= MAX_PIECE_BYTES));
    assert_eq!(pieces.concat().len(), word.len(), "nothing lost or added");
    // A 3-byte character is cut by bytes, like everything else.
    let cjk = "東".repeat(MAX_PIECE_BYTES);
    let cjk_pieces = pre_tokenize(&saved, &cjk);
    assert_eq!(cjk_pieces.len(), 3);
    assert!(cjk_pieces
        .iter()
        .all(|p| p.chars().count() == MAX_PIECE_BYTES));

    // Normal text never reaches the cap, so the cap changes none of its pieces.
    for text in common::corpus_texts(300, 8) {
        assert!(
            pre_tokenize(&saved, &text)
                .iter()
                .all(|p| p.chars().count() < MAX_PIECE_BYTES),
            "{text:?}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, tokenizer.json()).unwrap();
    let loaded = TextTokenizer::load(&path).unwrap();
    let from_file = Tokenizer::from_file(&path).unwrap();
    for text in [
        texts.last().unwrap().clone(),
        cjk.clone(),
        format!("{cjk} {word}"),
    ] {
        let ids = tokenizer.encode(&text).unwrap();
        assert_eq!(loaded.encode(&text).unwrap(), ids);
        assert_eq!(tokenizer.encode_reference(&text).unwrap(), ids);
        assert_eq!(
            from_file.encode(text.as_str(), false).unwrap().get_ids(),
            ids
        );
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
    }
}

#[test]
fn help_states_the_piece_cap() {
    let output = assert_cmd::Command::cargo_bin("inject")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains(&format!("longer than {MAX_PIECE_BYTES} bytes")),
        "{help}"
    );
}
