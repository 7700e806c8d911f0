//! Nonsense words: pronounceable strings of 4–5 letters built from English-like sound pieces,
//! so that no fact of a Lampinen dataset can be answered from pretraining knowledge.

use std::collections::HashSet;

use anyhow::{ensure, Result};
use factlab_rng::Rng;
use serde::Deserialize;

pub const LETTERS: std::ops::RangeInclusive<usize> = 4..=5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phonemes {
    pub onsets: Vec<String>,
    pub vowels: Vec<String>,
    pub codas: Vec<String>,
    pub endings: Vec<String>,
}

impl Phonemes {
    pub fn parse(text: &str) -> Result<Self> {
        let phonemes: Phonemes = toml::from_str(text)?;
        for (list, items) in [
            ("onsets", &phonemes.onsets),
            ("vowels", &phonemes.vowels),
            ("codas", &phonemes.codas),
            ("endings", &phonemes.endings),
        ] {
            ensure!(!items.is_empty(), "`{list}` is empty");
            if let Some(bad) = items
                .iter()
                .find(|p| !p.chars().all(|c| c.is_ascii_lowercase()))
            {
                anyhow::bail!("`{list}`: `{bad}` is not lower-case letters only");
            }
        }
        Ok(phonemes)
    }
}

/// Draws words that are new, of the right length and not real words. Every draw consumes the
/// same stream, so a rejected word shifts later words the same way on every run.
pub struct WordSource<'a> {
    phonemes: &'a Phonemes,
    stoplist: &'a HashSet<String>,
    taken: HashSet<String>,
    rng: Rng,
}

impl<'a> WordSource<'a> {
    pub fn new(phonemes: &'a Phonemes, stoplist: &'a HashSet<String>, rng: Rng) -> Self {
        WordSource {
            phonemes,
            stoplist,
            taken: HashSet::new(),
            rng,
        }
    }

    pub fn next_word(&mut self) -> Result<String> {
        // Generous: the bundled pieces give tens of thousands of words, a dataset needs hundreds.
        const ATTEMPTS: usize = 100_000;
        for _ in 0..ATTEMPTS {
            let p = self.phonemes;
            let word = [
                self.rng.choose(&p.onsets),
                self.rng.choose(&p.vowels),
                self.rng.choose(&p.codas),
                self.rng.choose(&p.endings),
            ]
            .into_iter()
            .map(String::as_str)
            .collect::<String>();
            if LETTERS.contains(&word.len())
                && !is_real(&word, self.stoplist)
                && self.taken.insert(word.clone())
            {
                return Ok(word);
            }
        }
        anyhow::bail!(
            "no new nonsense word after {ATTEMPTS} draws ({} taken): the sound pieces in \
             phonemes.toml make too few words of {}–{} letters",
            self.taken.len(),
            LETTERS.start(),
            LETTERS.end()
        )
    }

    pub fn words(&mut self, count: usize) -> Result<Vec<String>> {
        (0..count).map(|_| self.next_word()).collect()
    }
}

/// A stoplist word, or one with a plural ending ("hogs", "boxes").
pub fn is_real(word: &str, stoplist: &HashSet<String>) -> bool {
    let stems = [Some(word), word.strip_suffix('s'), word.strip_suffix("es")];
    stems
        .into_iter()
        .flatten()
        .any(|stem| stoplist.contains(stem))
}
