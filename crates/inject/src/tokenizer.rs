//! Byte-level BPE tokenizers: trained here with the `tokenizers` crate or loaded from a
//! `tokenizer.json`, always saved in the standard format that Hugging Face loads unchanged.
//!
//! Pieces are capped. The `tokenizers` BPE trainer merges a pair inside a word by inserting into
//! and removing from a vector, so one word of n bytes costs O(n²) per merge: a 100k-character run
//! without spaces took seconds and a 2 MB one never finished. The trained tokenizer's
//! pre-tokenizer is therefore a `Sequence` of GPT-2's `ByteLevel` split and a `Split` on the
//! regex `.{1,N}` (behaviour `Isolated`) with N = [`MAX_PIECE_BYTES`]: the `Split` runs on the
//! byte-level symbols (one per byte, none of them a line break), so every piece of more than N
//! bytes is cut into pieces of at most N bytes, and shorter pieces are left as they are. Because
//! the cap is part of the saved `tokenizer.json`, training and encoding cut the same way, here,
//! in Python's `tokenizers` and in `transformers`. `Split` with a regex is understood by every
//! release of `tokenizers` (unlike the newer `FixedLength`), and a cut inside a multi-byte
//! character is harmless to a byte-level BPE, whose decoder joins the bytes before reading them
//! as UTF-8.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::fast::FastEncoder;

/// Joins documents in the token stream and ends every injected text.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// The longest piece (in bytes) that the trained tokenizer's pre-tokenizer lets through to the
/// BPE model; longer ones are cut (see the module's notes). Far above any word of natural
/// language: English words stay under 30 bytes, German compounds under 64, and a run of 42
/// CJK characters (3 bytes each) between punctuation still fits. Only runs such as long
/// identifiers, base64, URLs or long spans of whitespace reach it.
pub const MAX_PIECE_BYTES: usize = 128;

/// The regex of the pre-tokenizer's `Split` that cuts pieces longer than `max` bytes.
pub fn piece_cap_pattern(max: usize) -> String {
    format!(".{{1,{max}}}")
}

/// A tokenizer with its end-of-text id and the exact JSON it is saved as.
pub struct TextTokenizer {
    inner: Tokenizer,
    end_of_text: u32,
    json: String,
    fast: Option<FastEncoder>,
}

impl TextTokenizer {
    /// Trains a byte-level BPE of `vocab_size` entries (the 256 byte symbols and `<|endoftext|>`
    /// included) on `texts`. No normaliser and no prefix space, so decoding gives back the exact
    /// text. Pieces are cut to at most [`MAX_PIECE_BYTES`] bytes, at training as at encoding time.
    pub fn train<I, S>(texts: I, vocab_size: usize) -> Result<Self>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let minimum = ByteLevel::alphabet().len() + 1;
        if vocab_size < minimum {
            bail!("--vocab-size {vocab_size} is too small: a byte-level BPE needs at least {minimum} (256 byte symbols and {END_OF_TEXT})");
        }
        let byte_level = ByteLevel::new(false, false, true);
        let cap = Split::new(
            SplitPattern::Regex(piece_cap_pattern(MAX_PIECE_BYTES)),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| anyhow!("the piece-length cap's pattern: {e}"))?;
        let pre_tokenizer = Sequence::new(vec![
            PreTokenizerWrapper::ByteLevel(byte_level),
            PreTokenizerWrapper::Split(cap),
        ]);
        let mut tokenizer = Tokenizer::new(BPE::default());
        tokenizer
            .with_pre_tokenizer(Some(pre_tokenizer))
            .with_post_processor(Some(byte_level))
            .with_decoder(Some(byte_level));
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(0)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(END_OF_TEXT, true)])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        tokenizer
            .train(&mut trainer, texts)
            .map_err(|e| anyhow!("training the BPE tokenizer: {e}"))?;
        let json = tokenizer
            .to_string(false)
            .map_err(|e| anyhow!("serialising the trained tokenizer: {e}"))?;
        Self::from_json(json, "the trained tokenizer")
    }

    /// Loads a `tokenizer.json`; it must know `<|endoftext|>`, which joins documents.
    pub fn load(path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the tokenizer", path.display()))?;
        Self::from_json(json, &path.display().to_string())
    }

    fn from_json(json: String, origin: &str) -> Result<Self> {
        let inner: Tokenizer = json
            .parse()
            .map_err(|e| anyhow!("{origin}: not a Hugging Face tokenizer.json: {e}"))?;
        let end_of_text = inner.token_to_id(END_OF_TEXT).ok_or_else(|| {
            anyhow!("{origin}: the tokenizer has no `{END_OF_TEXT}` token; expected one to join documents (train one here by leaving out --tokenizer)")
        })?;
        let fast = FastEncoder::for_tokenizer(&json, &inner);
        Ok(TextTokenizer {
            inner,
            end_of_text,
            json,
            fast,
        })
    }

    pub fn end_of_text(&self) -> u32 {
        self.end_of_text
    }

    /// The saved form: the loaded file's bytes unchanged, or the trained tokenizer's JSON.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Whether both give the same tokens: same model, added tokens and pipeline, whatever the
    /// JSON formatting of the files they came from.
    pub fn same_as(&self, other: &TextTokenizer) -> Result<bool> {
        let canonical = |t: &TextTokenizer| {
            t.inner
                .to_string(false)
                .map_err(|e| anyhow!("serialising a tokenizer: {e}"))
        };
        Ok(canonical(self)? == canonical(other)?)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether this tokenizer gets the faster exact encoder (true for the ones trained here).
    pub fn has_fast_path(&self) -> bool {
        self.fast.is_some()
    }

    /// Token ids of `text`, without special tokens added around it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        self.encode_into(text, &mut HashMap::new(), &mut ids)?;
        Ok(ids)
    }

    fn encode_into(
        &self,
        text: &str,
        cache: &mut HashMap<Vec<u8>, Vec<u32>>,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        match &self.fast {
            Some(fast) => fast.encode(&self.inner, text, cache, ids),
            None => {
                ids.extend(self.encode_reference(text)?);
                Ok(())
            }
        }
    }

    /// Token ids as the `tokenizers` crate itself gives them; [`TextTokenizer::encode`] must
    /// agree.
    pub fn encode_reference(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Encodes every text in parallel, each followed by `<|endoftext|>`; the result is in input
    /// order whatever the thread count.
    pub fn encode_documents<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts
            .par_iter()
            .map_init(HashMap::new, |cache, text| {
                let mut ids = Vec::new();
                self.encode_into(text.as_ref(), cache, &mut ids)?;
                ids.push(self.end_of_text);
                Ok(ids)
            })
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, false)
            .map_err(|e| anyhow!("decoding: {e}"))
    }
}
