//! A faster exact encoder for plain byte-level BPE tokenizers, such as the ones this stage trains.
//!
//! `Tokenizer::encode_fast` spends most of its time in the GPT-2 split pattern, which needs
//! `fancy-regex` for one look-ahead (`\s+(?!\S)`), and in building an `Encoding` (token strings,
//! offsets, masks) that shards never use. Here the pattern runs on `regex`'s automaton with the
//! look-ahead emulated, each piece goes through the tokenizer's own BPE model, and the ids of
//! frequent pieces are cached. Only tokenizers whose ids this provably reproduces get this path
//! (see [`FastEncoder::for_tokenizer`]); the tests compare both paths on awkward text. The
//! tokenizers trained here cap the length of a piece (a `Split` after the `ByteLevel` step, see
//! `tokenizer.rs`): that cut is reproduced too.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use regex::Regex;
use serde_json::Value;
use tokenizers::{Model, Tokenizer};

/// The GPT-2 pattern without its look-ahead alternative `\s+(?!\S)`, emulated in [`pieces`].
/// Every character starts a match, so the pattern is anchored: searching from each piece's start
/// then needs no reverse scan to find where the match begins.
const PATTERN: &str = r"^(?:'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+)";

/// Pieces cached per worker; past this many, new ones are encoded without being kept.
const CACHE_LIMIT: usize = 200_000;

pub struct FastEncoder {
    pattern: Regex,
    /// Pieces longer than this many bytes are cut into pieces of at most this many.
    max_piece: Option<usize>,
    byte_chars: [char; 256],
    /// Added tokens matched in raw text before splitting, as the tokenizer does.
    added: Vec<(String, u32)>,
}

/// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the others for 256 + n.
fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut next = 256u32;
    for (byte, slot) in chars.iter_mut().enumerate() {
        let printable = matches!(byte, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            byte as u32
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(code).expect("below the surrogate range");
    }
    chars
}

impl FastEncoder {
    /// `Some` only when `json` is a tokenizer whose ids this encoder reproduces: no normaliser,
    /// a ByteLevel pre-tokenizer with the GPT-2 pattern and no prefix space (alone, or followed
    /// by the piece-length cap of the tokenizers trained here), a BPE model without dropout, no
    /// truncation or padding, and added tokens matched literally.
    pub fn for_tokenizer(json: &str, tokenizer: &Tokenizer) -> Option<Self> {
        let value: Value = serde_json::from_str(json).ok()?;
        let (byte_level, max_piece) = split_pre_tokenizer(&value["pre_tokenizer"])?;
        let plain = value["normalizer"].is_null()
            && value["truncation"].is_null()
            && value["padding"].is_null()
            && byte_level["type"] == "ByteLevel"
            && byte_level["add_prefix_space"] == false
            && byte_level["use_regex"] == true
            && value["model"]["type"] == "BPE"
            && value["model"]["dropout"].is_null();
        let added = value["added_tokens"].as_array()?;
        let literal = added
            .iter()
            .all(|t| t["lstrip"] == false && t["rstrip"] == false && t["single_word"] == false);
        if !(plain && literal) {
            return None;
        }
        let added = added
            .iter()
            .map(|t| {
                let content = t["content"].as_str()?.to_string();
                let id = tokenizer.token_to_id(&content)?;
                Some((content, id))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FastEncoder {
            pattern: Regex::new(PATTERN).expect("valid pattern"),
            max_piece,
            byte_chars: byte_chars(),
            added,
        })
    }

    /// Appends the ids of `text` to `ids`.
    pub fn encode(
        &self,
        tokenizer: &Tokenizer,
        text: &str,
        cache: &mut HashMap<Vec<u8>, Vec<u32>>,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        let mut rest = text;
        while !rest.is_empty() {
            // Leftmost added token, the longest one where several start at the same place.
            let next = self
                .added
                .iter()
                .filter_map(|(content, id)| {
                    rest.find(content.as_str())
                        .map(|at| (at, content.len(), *id))
                })
                .min_by_key(|&(at, length, _)| (at, std::cmp::Reverse(length)));
            let (plain, after) = match next {
                Some((at, length, id)) => (&rest[..at], Some((id, &rest[at + length..]))),
                None => (rest, None),
            };
            for piece in pieces(&self.pattern, plain) {
                match self.max_piece {
                    Some(max) => {
                        for cut in piece.as_bytes().chunks(max) {
                            self.encode_piece(tokenizer, cut, cache, ids)?;
                        }
                    }
                    None => self.encode_piece(tokenizer, piece.as_bytes(), cache, ids)?,
                }
            }
            match after {
                Some((id, remainder)) => {
                    ids.push(id);
                    rest = remainder;
                }
                None => break,
            }
        }
        Ok(())
    }

    /// `piece` is bytes, not text: the cap may cut inside a character.
    fn encode_piece(
        &self,
        tokenizer: &Tokenizer,
        piece: &[u8],
        cache: &mut HashMap<Vec<u8>, Vec<u32>>,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        if let Some(known) = cache.get(piece) {
            ids.extend_from_slice(known);
            return Ok(());
        }
        let mapped: String = piece.iter().map(|&b| self.byte_chars[b as usize]).collect();
        let tokens = tokenizer
            .get_model()
            .tokenize(&mapped)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        let piece_ids: Vec<u32> = tokens.iter().map(|t| t.id).collect();
        ids.extend_from_slice(&piece_ids);
        if cache.len() < CACHE_LIMIT {
            cache.insert(piece.to_vec(), piece_ids);
        }
        Ok(())
    }
}

/// The ByteLevel step of a pre-tokenizer and the piece-length cap after it, if any: a plain
/// ByteLevel, or a Sequence of a ByteLevel and a `Split` on `.{1,N}` (isolated, not inverted),
/// exactly as `tokenizer.rs` writes it. `None` for anything else.
fn split_pre_tokenizer(pre: &Value) -> Option<(&Value, Option<usize>)> {
    if pre["type"] == "ByteLevel" {
        return Some((pre, None));
    }
    if pre["type"] != "Sequence" {
        return None;
    }
    let [byte_level, cap] = pre["pretokenizers"].as_array()?.as_slice() else {
        return None;
    };
    let pattern = cap["pattern"]["Regex"].as_str()?;
    let max = pattern
        .strip_prefix(".{1,")?
        .strip_suffix('}')?
        .parse::<usize>()
        .ok()
        .filter(|&max| max > 0)?;
    let exact = cap["type"] == "Split"
        && cap["behavior"] == "Isolated"
        && cap["invert"] == false
        && pattern == crate::tokenizer::piece_cap_pattern(max);
    exact.then_some((byte_level, Some(max)))
}

/// The GPT-2 split of `text`. `\s+(?!\S)` comes before `\s+` in GPT-2's pattern: a run of
/// whitespace followed by a non-space gives up its last character, which starts the next piece
/// (so that " word" keeps its space).
fn pieces<'t>(pattern: &'t Regex, text: &'t str) -> impl Iterator<Item = &'t str> + 't {
    let mut at = 0;
    std::iter::from_fn(move || {
        // Slicing (not `find_at`) makes `^` mean the piece's start; the pattern has no
        // look-behind that the cut could change.
        let piece = pattern.find(&text[at..])?.as_str();
        let start = at;
        let mut end = at + piece.len();
        // Matches are never empty: every alternative takes at least one character.
        if end < text.len() && piece.chars().all(char::is_whitespace) {
            let last = piece.chars().next_back().expect("non-empty match");
            if piece.len() > last.len_utf8() {
                end -= last.len_utf8();
            }
        }
        at = end;
        Some(&text[start..end])
    })
}
