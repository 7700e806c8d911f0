//! One invented entity: its facts, the paragraph that states them, paraphrases that state the
//! same facts with other templates in another order, and the three kinds of probes.

use std::collections::HashSet;

use anyhow::{bail, Result};
use factlab_artifacts::{Knowledge, Probe, ProbeKind, Triple};
use factlab_rng::Rng;

use crate::names::{NameMaker, NameSpace};
use crate::world::{Slots, World};

/// Streams separate random choices so that changing one part of the generator (say, the probes)
/// leaves the others (the paragraph text) as they were for the same seed.
const STREAM_SUBJECT: u64 = 1;
const STREAM_FACTS: u64 = 2;
const STREAM_PARAPHRASE: u64 = 3;
const STREAM_PROBES: u64 = 4;
const STREAM_BACKGROUND: u64 = 5;
const STREAM_PROBE_TEMPLATES: u64 = 6;

#[derive(Debug, Clone)]
pub struct ParagraphShape {
    pub paraphrases: usize,
    pub probes_per_kind: usize,
    pub min_sentences: usize,
    /// The paragraph stops growing once it passes a length drawn from this range (inclusive).
    pub target_words: [usize; 2],
}

impl Default for ParagraphShape {
    /// The paper's shape: ≥ 20 sentences, 261–520 words, 9 paraphrases, 5 probes of each kind.
    fn default() -> Self {
        ParagraphShape {
            paraphrases: 9,
            probes_per_kind: 5,
            min_sentences: 20,
            target_words: [270, 420],
        }
    }
}

pub struct Subject {
    pub type_index: usize,
    pub name: String,
}

/// Hands out subjects with names unique within one output, in index order. This is the only
/// sequential part of generation: everything after it runs in parallel per paragraph.
pub struct SubjectSequence<'a> {
    world: &'a World,
    names: NameMaker<'a>,
    seed: u64,
    next_index: u64,
    used: HashSet<String>,
}

impl<'a> SubjectSequence<'a> {
    pub fn new(world: &'a World, space: NameSpace, seed: u64) -> Self {
        SubjectSequence {
            world,
            names: NameMaker::new(&world.names, space),
            seed,
            next_index: 0,
            used: HashSet::new(),
        }
    }
}

impl Iterator for SubjectSequence<'_> {
    type Item = Subject;

    fn next(&mut self) -> Option<Subject> {
        let mut rng = Rng::derive(self.seed, &[STREAM_SUBJECT, self.next_index]);
        self.next_index += 1;
        let type_index = rng.below(self.world.entity_types.len());
        let kind = &self.world.entity_types[type_index].name_kind;
        loop {
            let name = self.names.make(kind, &mut rng);
            if self.used.insert(name.clone()) {
                return Some(Subject { type_index, name });
            }
        }
    }
}

struct Fact {
    relation: usize,
    object: String,
    /// Template of the original paragraph's sentence.
    template: usize,
}

pub struct Paragraphs<'a> {
    world: &'a World,
    names: NameMaker<'a>,
    seed: u64,
    shape: ParagraphShape,
}

impl<'a> Paragraphs<'a> {
    pub fn new(world: &'a World, space: NameSpace, seed: u64, shape: ParagraphShape) -> Self {
        Paragraphs {
            world,
            names: NameMaker::new(&world.names, space),
            seed,
            shape,
        }
    }

    fn slots<'s>(&'s self, subject: &'s Subject, object: &'s str) -> Slots<'s> {
        Slots {
            subject: &subject.name,
            object,
            noun: &self.world.entity_types[subject.type_index].noun,
            descriptor: "",
        }
    }

    fn sentence(&self, subject: &Subject, fact: &Fact, template: usize) -> String {
        self.world.relations[fact.relation].sentences[template]
            .render(&self.slots(subject, &fact.object))
    }

    /// Draws facts until the paragraph is long enough, rendering the original sentences.
    fn facts(&self, subject: &Subject, rng: &mut Rng) -> (Vec<Fact>, Vec<String>) {
        let entity_type = &self.world.entity_types[subject.type_index];
        let mut order = entity_type.relations[1..].to_vec();
        rng.shuffle(&mut order);
        order.insert(0, entity_type.relations[0]);
        let [lo, hi] = self.shape.target_words;
        let target_words = rng.range_inclusive(lo, hi);
        let mut used_objects: HashSet<String> = HashSet::from([subject.name.clone()]);
        let (mut facts, mut sentences, mut words) = (Vec::new(), Vec::new(), 0);
        for relation in order {
            if sentences.len() >= self.shape.min_sentences && words >= target_words {
                break;
            }
            let object_kind = &self.world.relations[relation].object_kind;
            let object = loop {
                let candidate = self.names.make(object_kind, rng);
                if used_objects.insert(candidate.clone()) {
                    break candidate;
                }
            };
            let fact = Fact {
                relation,
                object,
                template: rng.below(self.world.relations[relation].sentences.len()),
            };
            let sentence = self.sentence(subject, &fact, fact.template);
            words += sentence.split_whitespace().count();
            sentences.push(sentence);
            facts.push(fact);
        }
        (facts, sentences)
    }

    /// A template for `fact` other than the one the paragraph used: the one its semantic probe
    /// words the fact with, and which no paraphrase uses (so that a semantic probe never occurs
    /// verbatim in the texts a paraphrase scenario injects).
    fn probe_template(&self, fact: &Fact, rng: &mut Rng) -> usize {
        let count = self.world.relations[fact.relation].sentences.len();
        (fact.template + 1 + rng.below(count - 1)) % count
    }

    /// A template for a paraphrase of `fact`: neither the paragraph's nor the probe's.
    fn paraphrase_template(&self, fact: &Fact, probe_template: usize, rng: &mut Rng) -> usize {
        let count = self.world.relations[fact.relation].sentences.len();
        let allowed: Vec<usize> = (0..count)
            .filter(|&t| t != fact.template && t != probe_template)
            .collect();
        *rng.choose(&allowed)
    }

    fn paraphrase(
        &self,
        subject: &Subject,
        facts: &[Fact],
        probe_templates: &[usize],
        rng: &mut Rng,
    ) -> String {
        let mut order: Vec<usize> = (1..facts.len()).collect();
        rng.shuffle(&mut order);
        order.insert(0, 0);
        let sentences: Vec<String> = order
            .into_iter()
            .map(|i| {
                let template = self.paraphrase_template(&facts[i], probe_templates[i], rng);
                self.sentence(subject, &facts[i], template)
            })
            .collect();
        sentences.join(" ")
    }

    fn triple(&self, subject: &Subject, fact: &Fact) -> Triple {
        Triple {
            subject: subject.name.clone(),
            relation: self.world.relations[fact.relation].id.clone(),
            object: fact.object.clone(),
        }
    }

    fn probes(
        &self,
        knowledge_id: u32,
        subject: &Subject,
        facts: &[Fact],
        (sentences, probe_templates): (&[String], &[usize]),
        rng: &mut Rng,
    ) -> Result<Vec<Probe>> {
        let per_kind = self.shape.probes_per_kind;
        if facts.len() < per_kind {
            bail!(
                "entity `{}` has {} facts; {per_kind} probes of each kind need at least {per_kind}",
                subject.name,
                facts.len()
            );
        }
        let first_id = knowledge_id * 3 * per_kind as u32;
        let mut probes = Vec::with_capacity(3 * per_kind);
        let mut push = |kind, prompt: String, target: &str, facts: Vec<Triple>| {
            probes.push(Probe {
                id: first_id + probes.len() as u32,
                knowledge_id,
                kind,
                prompt,
                target: target.to_string(),
                facts,
            })
        };

        let cloze = rng.sample_indices(facts.len(), per_kind);
        for &i in &cloze {
            let cut = sentences[i].len() - facts[i].object.len() - 2; // drops " {o}."
            let prompt = sentences[i][..cut].to_string();
            push(
                ProbeKind::Memorization,
                prompt,
                &facts[i].object,
                vec![self.triple(subject, &facts[i])],
            );
        }
        for &i in &cloze {
            let reworded = self.sentence(subject, &facts[i], probe_templates[i]);
            let cut = reworded.len() - facts[i].object.len() - 2;
            push(
                ProbeKind::Semantic,
                reworded[..cut].to_string(),
                &facts[i].object,
                vec![self.triple(subject, &facts[i])],
            );
        }

        let relation = |f: &Fact| &self.world.relations[f.relation];
        let askable: Vec<usize> = (0..facts.len())
            .filter(|&i| relation(&facts[i]).question.is_some())
            .collect();
        let describable: Vec<usize> = (0..facts.len())
            .filter(|&i| relation(&facts[i]).descriptor.is_some())
            .collect();
        if askable.len() < per_kind || describable.len() < 2 {
            bail!(
                "entity `{}`: too few relations with a question ({}) or descriptor ({}) for {per_kind} composition probes",
                subject.name,
                askable.len(),
                describable.len()
            );
        }
        for pick in rng.sample_indices(askable.len(), per_kind) {
            let asked = askable[pick];
            let via = loop {
                let candidate = *rng.choose(&describable);
                if candidate != asked {
                    break candidate;
                }
            };
            let descriptor = relation(&facts[via])
                .descriptor
                .as_ref()
                .expect("describable facts have a descriptor")
                .render(&self.slots(subject, &facts[via].object));
            let question = relation(&facts[asked])
                .question
                .as_ref()
                .expect("askable facts have a question")
                .render(&Slots {
                    descriptor: &descriptor,
                    ..self.slots(subject, "")
                });
            push(
                ProbeKind::Composition,
                capitalise_first(&question),
                &facts[asked].object,
                vec![
                    self.triple(subject, &facts[via]),
                    self.triple(subject, &facts[asked]),
                ],
            );
        }
        Ok(probes)
    }

    /// The knowledge row and its probes for paragraph `id`.
    pub fn knowledge(
        &self,
        id: u32,
        subject: &Subject,
        dataset: &str,
    ) -> Result<(Knowledge, Vec<Probe>)> {
        let index = id as u64;
        let (facts, sentences) =
            self.facts(subject, &mut Rng::derive(self.seed, &[STREAM_FACTS, index]));
        let mut rng = Rng::derive(self.seed, &[STREAM_PROBE_TEMPLATES, index]);
        let probe_templates: Vec<usize> = facts
            .iter()
            .map(|f| self.probe_template(f, &mut rng))
            .collect();
        let mut rng = Rng::derive(self.seed, &[STREAM_PARAPHRASE, index]);
        let paraphrases = (0..self.shape.paraphrases)
            .map(|_| self.paraphrase(subject, &facts, &probe_templates, &mut rng))
            .collect();
        let mut rng = Rng::derive(self.seed, &[STREAM_PROBES, index]);
        let probes = self.probes(
            id,
            subject,
            &facts,
            (&sentences, &probe_templates),
            &mut rng,
        )?;
        let entity_type = &self.world.entity_types[subject.type_index];
        let knowledge = Knowledge {
            id,
            dataset: dataset.to_string(),
            entity: Some(subject.name.clone()),
            entity_type: Some(entity_type.id.clone()),
            text: sentences.join(" "),
            paraphrases,
            facts: facts.iter().map(|f| self.triple(subject, f)).collect(),
        };
        Ok((knowledge, probes))
    }

    /// A background document: a paragraph about a subject, without paraphrases or probes.
    pub fn document(&self, index: u64, subject: &Subject) -> String {
        let (_, sentences) = self.facts(
            subject,
            &mut Rng::derive(self.seed, &[STREAM_BACKGROUND, index]),
        );
        sentences.join(" ")
    }
}

fn capitalise_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
