//! Background documents written with the disjoint grammar of `data/background/`: prose about
//! invented entities from the background half of the name space, in wording that no probe uses.

use std::collections::HashSet;

use factlab_rng::Rng;

use crate::grammar::{Grammar, Piece, Slot, Template, Topic, ARTICLE_MARK};
use crate::names::{NameMaker, NameSpace};
use crate::world::NameData;

/// Streams apart from those of the knowledge paragraphs (paragraph.rs uses 1 to 6), so the two
/// grammars never draw the same numbers for the same seed.
const STREAM_SUBJECT: u64 = 101;
const STREAM_DOCUMENT: u64 = 102;

pub struct Subject {
    pub topic: usize,
    pub name: String,
}

/// Subjects with names unique within one corpus, in index order: the only sequential part.
pub struct Subjects<'a> {
    grammar: &'a Grammar,
    names: NameMaker<'a>,
    seed: u64,
    next_index: u64,
    used: HashSet<String>,
}

impl<'a> Subjects<'a> {
    pub fn new(grammar: &'a Grammar, names: &'a NameData, seed: u64) -> Self {
        Subjects {
            grammar,
            names: NameMaker::new(names, NameSpace::Background),
            seed,
            next_index: 0,
            used: HashSet::new(),
        }
    }
}

impl Iterator for Subjects<'_> {
    type Item = Subject;

    fn next(&mut self) -> Option<Subject> {
        let mut rng = Rng::derive(self.seed, &[STREAM_SUBJECT, self.next_index]);
        self.next_index += 1;
        let topic = rng.below(self.grammar.topics.len());
        loop {
            let name = self
                .names
                .make(&self.grammar.topics[topic].name_kind, &mut rng);
            if self.used.insert(name.clone()) {
                return Some(Subject { topic, name });
            }
        }
    }
}

pub struct Documents<'a> {
    grammar: &'a Grammar,
    names: NameMaker<'a>,
    seed: u64,
}

/// What one document's sentences are about, and the draws they make.
struct Scene<'s> {
    topic: &'s Topic,
    subject: &'s str,
    rng: Rng,
}

impl<'a> Documents<'a> {
    pub fn new(grammar: &'a Grammar, names: &'a NameData, seed: u64) -> Self {
        Documents {
            grammar,
            names: NameMaker::new(names, NameSpace::Background),
            seed,
        }
    }

    /// Document `index`: an opening, then frames drawn without repeats until the document passes
    /// its drawn length, put back in section order so that it reads in sections.
    pub fn document(&self, index: u64, subject: &Subject) -> String {
        let topic = &self.grammar.topics[subject.topic];
        let mut scene = Scene {
            topic,
            subject: &subject.name,
            rng: Rng::derive(self.seed, &[STREAM_DOCUMENT, index]),
        };
        let [lo, hi] = self.grammar.words;
        let target = scene.rng.range_inclusive(lo, hi);
        let opening = scene.rng.choose(&topic.openings);
        let opening = self.sentence(opening, &mut scene);
        let mut words = opening.split_whitespace().count();
        let mut order: Vec<usize> = (0..topic.frames.len()).collect();
        scene.rng.shuffle(&mut order);
        let mut drawn = Vec::new();
        for frame in order.into_iter().map(|i| &topic.frames[i]) {
            if words >= target {
                break;
            }
            let sentence = self.sentence(&frame.template, &mut scene);
            words += sentence.split_whitespace().count();
            drawn.push((frame.section, sentence));
        }
        // Stable: frames of one section keep their shuffled order.
        drawn.sort_by_key(|(section, _)| *section);
        let mut text = opening;
        for (_, sentence) in drawn {
            text.push(' ');
            text.push_str(&sentence);
        }
        text
    }

    fn sentence(&self, template: &Template, scene: &mut Scene) -> String {
        let mut raw = String::new();
        self.expand(template, scene, &mut raw);
        finish_sentence(&raw)
    }

    fn expand(&self, template: &Template, scene: &mut Scene, out: &mut String) {
        for piece in &template.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Subject => out.push_str(scene.subject),
                // Prose names its subject in full most of the time and by a short phrase now
                // and then; a name in every sentence reads like a list.
                Piece::Entity if scene.rng.below(3) == 0 => {
                    let refer = scene.rng.choose(&scene.topic.refer);
                    self.expand(refer, scene, out);
                }
                Piece::Entity => {
                    if scene.topic.definite {
                        out.push_str("the ");
                    }
                    out.push_str(scene.subject);
                }
                Piece::Surname => {
                    out.push_str(scene.subject.rsplit(' ').next().unwrap_or(scene.subject))
                }
                Piece::Refer => {
                    let refer = scene.rng.choose(&scene.topic.refer);
                    self.expand(refer, scene, out);
                }
                Piece::Article => out.push(ARTICLE_MARK),
                Piece::Slot(slot) => match &self.grammar.slots[*slot] {
                    Slot::Name(kind) => out.push_str(&self.names.make(kind, &mut scene.rng)),
                    Slot::Number(spec) => {
                        let steps = (spec.max - spec.min) / spec.step;
                        let value =
                            spec.min + spec.step * scene.rng.below(steps as usize + 1) as u64;
                        out.push_str(&format_number(value, spec.grouped));
                    }
                    Slot::List(entries) => {
                        let entry = scene.rng.choose(entries);
                        self.expand(entry, scene, out);
                    }
                },
            }
        }
    }
}

/// Resolves `{a}` against the word that follows it and capitalises the first letter.
fn finish_sentence(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    let mut rest = raw;
    while let Some(at) = rest.find(ARTICLE_MARK) {
        out.push_str(&rest[..at]);
        rest = &rest[at + ARTICLE_MARK.len_utf8()..];
        let next = rest.trim_start().chars().next();
        let vowel = next.is_some_and(|c| "aeiouAEIOU".contains(c));
        out.push_str(if vowel { "an" } else { "a" });
    }
    out.push_str(rest);
    let mut chars = out.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => out,
    }
}

fn format_number(value: u64, grouped: bool) -> String {
    let digits = value.to_string();
    if !grouped || digits.len() <= 3 {
        return digits;
    }
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_agree_and_numbers_are_grouped() {
        let raw = format!("{ARTICLE_MARK} owl and {ARTICLE_MARK} heron");
        assert_eq!(finish_sentence(&raw), "An owl and a heron");
        assert_eq!(format_number(1234567, true), "1,234,567");
        assert_eq!(format_number(123, true), "123");
        assert_eq!(format_number(1890, false), "1890");
    }
}
