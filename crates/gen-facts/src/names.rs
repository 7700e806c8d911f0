//! Invented names built from syllables. The name space is split in two halves by a fixed hash of
//! each invented word: knowledge paragraphs draw from one half and the background corpus from the
//! other, so no injected entity can already occur in the pretraining text.

use factlab_rng::Rng;

use crate::world::NameData;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSpace {
    Knowledge,
    Background,
}

impl NameSpace {
    pub fn owns(self, name: &str) -> bool {
        // FNV-1a: fixed forever, unlike std's hasher, so the split never moves between versions.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let half = (hash >> 32) & 1 == 0;
        half == (self == NameSpace::Knowledge)
    }
}

pub struct NameMaker<'a> {
    data: &'a NameData,
    space: NameSpace,
}

impl<'a> NameMaker<'a> {
    pub fn new(data: &'a NameData, space: NameSpace) -> Self {
        NameMaker { data, space }
    }

    fn core(&self, rng: &mut Rng) -> String {
        let [lo, hi] = self.data.syllables;
        let mut core = String::new();
        for _ in 0..rng.range_inclusive(lo, hi) {
            for part in [&self.data.onsets, &self.data.nuclei, &self.data.codas] {
                let chosen: &String = rng.choose(part);
                core.push_str(chosen);
            }
        }
        core
    }

    fn capitalised(&self, rng: &mut Rng) -> String {
        let core = self.core(rng);
        let mut chars = core.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => core,
        }
    }

    /// A name of `kind` from this maker's half of the name space. Panics on an unknown kind
    /// (kinds are checked when the world is loaded).
    ///
    /// Ownership is decided per invented word, not per name: a knowledge city `Velth` and a
    /// background river `Velth River` would otherwise share the word `Velth`.
    pub fn make(&self, kind: &str, rng: &mut Rng) -> String {
        let pattern = rng.choose(&self.data.kinds[kind]);
        let words: Vec<String> = pattern
            .split(' ')
            .map(|token| {
                if !token.contains('{') {
                    return token.to_string();
                }
                loop {
                    let word = self.render_word(token, rng);
                    if self.space.owns(&word) {
                        return word;
                    }
                }
            })
            .collect();
        words.join(" ")
    }

    fn render_word(&self, token: &str, rng: &mut Rng) -> String {
        let mut word = String::new();
        let mut rest = token;
        while let Some(open) = rest.find('{') {
            word.push_str(&rest[..open]);
            match &rest[open..open + 3] {
                "{C}" => word.push_str(&self.capitalised(rng)),
                _ => word.push_str(&self.core(rng)),
            }
            rest = &rest[open + 3..];
        }
        word.push_str(rest);
        word
    }
}
