//! The background corpus's own grammar, loaded from `data/background/`: topics, sentence frames
//! and slot vocabularies worded apart from the knowledge templates, so that pretraining on the
//! background does not teach the probes' wording (see data/background/grammar.toml).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::world::NameData;

const BUNDLED_GRAMMAR: &str = include_str!("../../../data/background/grammar.toml");
const BUNDLED_VOCABULARY: &str = include_str!("../../../data/background/vocabulary.toml");
pub const GRAMMAR_FILE: &str = "grammar.toml";
pub const VOCABULARY_FILE: &str = "vocabulary.toml";

/// Placeholders every template may use; a slot of the same name would be ambiguous.
const BUILTINS: [&str; 5] = ["subject", "entity", "surname", "refer", "a"];

/// Stands for `{a}` until the next word is known; a control character no data file holds.
pub const ARTICLE_MARK: char = '\u{1}';

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrammarFile {
    document: DocumentSpec,
    #[serde(rename = "topic")]
    topics: Vec<TopicSpec>,
    frames: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentSpec {
    words: [usize; 2],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicSpec {
    id: String,
    name_kind: String,
    #[serde(default)]
    definite: bool,
    refer: Vec<String>,
    openings: Vec<String>,
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    #[serde(default)]
    names: BTreeMap<String, String>,
    #[serde(default)]
    numbers: BTreeMap<String, NumberSpec>,
    #[serde(default)]
    lists: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberSpec {
    pub min: u64,
    pub max: u64,
    #[serde(default = "one")]
    pub step: u64,
    #[serde(default)]
    pub grouped: bool,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Subject,
    Entity,
    Surname,
    Refer,
    Article,
    Slot(usize),
}

/// A frame or list entry split at its placeholders, with slot names resolved to indices.
#[derive(Debug, Clone)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

pub enum Slot {
    Name(String),
    Number(NumberSpec),
    List(Vec<Template>),
}

pub struct Frame {
    /// Position of the frame's group in its topic's `groups`: the document's section order.
    pub section: usize,
    pub template: Template,
}

pub struct Topic {
    pub id: String,
    pub name_kind: String,
    /// Whether running text puts "the" before the name (the Velth River, but Mount Velth).
    pub definite: bool,
    pub refer: Vec<Template>,
    pub openings: Vec<Template>,
    pub frames: Vec<Frame>,
}

pub struct Grammar {
    pub words: [usize; 2],
    pub topics: Vec<Topic>,
    pub slots: Vec<Slot>,
}

/// Resolves placeholder names while parsing, and says which file and entry a template came from.
struct Parser<'a> {
    index: HashMap<&'a str, usize>,
}

impl Parser<'_> {
    fn parse(&self, text: &str, at: &dyn Fn() -> String) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                bail!("{}: unclosed `{{` in `{text}`", at());
            };
            let name = &rest[open + 1..open + close];
            pieces.push(match name {
                "subject" => Piece::Subject,
                "entity" => Piece::Entity,
                "surname" => Piece::Surname,
                "refer" => Piece::Refer,
                "a" => Piece::Article,
                _ => match self.index.get(name) {
                    Some(&slot) => Piece::Slot(slot),
                    None => bail!(
                        "{}: unknown placeholder `{{{name}}}` in `{text}`; expected a built-in ({}) or a slot defined in {VOCABULARY_FILE}",
                        at(),
                        BUILTINS.join(", ")
                    ),
                },
            });
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') || rest.contains(ARTICLE_MARK) {
            bail!("{}: stray `}}` or control character in `{text}`", at());
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }
}

impl Grammar {
    /// The bundled grammar, or `grammar.toml` and `vocabulary.toml` from `dir` (a user's copy).
    pub fn load(dir: Option<&Path>, names: &NameData) -> Result<Self> {
        match dir {
            None => Self::from_texts(
                (BUNDLED_GRAMMAR, "data/background/grammar.toml (bundled)"),
                (
                    BUNDLED_VOCABULARY,
                    "data/background/vocabulary.toml (bundled)",
                ),
                names,
            ),
            Some(dir) => {
                let read = |name: &str| -> Result<(String, String)> {
                    let path = dir.join(name);
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Ok((text, path.display().to_string()))
                };
                let (grammar, vocabulary) = (read(GRAMMAR_FILE)?, read(VOCABULARY_FILE)?);
                Self::from_texts(
                    (&grammar.0, &grammar.1),
                    (&vocabulary.0, &vocabulary.1),
                    names,
                )
            }
        }
    }

    fn from_texts(
        (grammar, grammar_file): (&str, &str),
        (vocabulary, vocabulary_file): (&str, &str),
        names: &NameData,
    ) -> Result<Self> {
        let spec: GrammarFile =
            toml::from_str(grammar).with_context(|| format!("{grammar_file}: not a grammar"))?;
        let vocab: VocabularyFile = toml::from_str(vocabulary)
            .with_context(|| format!("{vocabulary_file}: not a vocabulary"))?;
        let slots = slots(&vocab, names, vocabulary_file)?;
        let [lo, hi] = spec.document.words;
        if lo == 0 || lo > hi {
            bail!("{grammar_file}: [document] words = [{lo}, {hi}]; expected 0 < LOW <= HIGH");
        }
        let order: Vec<&str> = vocab
            .names
            .keys()
            .chain(vocab.numbers.keys())
            .chain(vocab.lists.keys())
            .map(String::as_str)
            .collect();
        let parser = Parser {
            index: order.iter().enumerate().map(|(i, &n)| (n, i)).collect(),
        };
        let mut filled: Vec<Slot> = slots;
        for (name, entries) in &vocab.lists {
            let at = |i: usize| move || format!("{vocabulary_file}: [lists] `{name}`, entry {i}");
            let templates = entries
                .iter()
                .enumerate()
                .map(|(i, text)| parser.parse(text, &at(i)))
                .collect::<Result<Vec<_>>>()?;
            if templates.iter().any(names_the_entity) {
                bail!(
                    "{vocabulary_file}: [lists] `{name}`: `{{refer}}` and `{{entity}}` belong in frames and openings, not in lists"
                );
            }
            filled[parser.index[name.as_str()]] = Slot::List(templates);
        }
        check_acyclic(&filled, &order, vocabulary_file)?;

        let mut groups_used = vec![false; spec.frames.len()];
        let mut topics = Vec::new();
        if spec.topics.is_empty() {
            bail!("{grammar_file}: defines no [[topic]]");
        }
        for t in &spec.topics {
            let here = || format!("{grammar_file}: topic `{}`", t.id);
            if !names.kinds.contains_key(&t.name_kind) {
                bail!(
                    "{}: name kind `{}` is not in names.toml",
                    here(),
                    t.name_kind
                );
            }
            if t.refer.is_empty() || t.openings.is_empty() || t.groups.is_empty() {
                bail!(
                    "{}: `refer`, `openings` and `groups` must not be empty",
                    here()
                );
            }
            let field = |name: &'static str, list: &[String]| -> Result<Vec<Template>> {
                list.iter()
                    .enumerate()
                    .map(|(i, text)| parser.parse(text, &|| format!("{}, {name} {i}", here())))
                    .collect()
            };
            let refer = field("refer", &t.refer)?;
            if refer.iter().any(names_the_entity) {
                bail!(
                    "{}: a `refer` phrase cannot contain `{{refer}}` or `{{entity}}`",
                    here()
                );
            }
            let openings = field("opening", &t.openings)?;
            let mut frames = Vec::new();
            for (section, group) in t.groups.iter().enumerate() {
                let Some(position) = spec.frames.keys().position(|g| g == group) else {
                    bail!(
                        "{}: unknown group `{group}` (not a key of [frames])",
                        here()
                    );
                };
                groups_used[position] = true;
                for (i, text) in spec.frames[group].iter().enumerate() {
                    let at = || format!("{grammar_file}: [frames] `{group}`, frame {i}");
                    frames.push(Frame {
                        section,
                        template: parser.parse(text, &at)?,
                    });
                }
            }
            topics.push(Topic {
                id: t.id.clone(),
                name_kind: t.name_kind.clone(),
                definite: t.definite,
                refer,
                openings,
                frames,
            });
        }
        if let Some(unused) = spec.frames.keys().zip(&groups_used).find(|(_, &u)| !u) {
            bail!(
                "{grammar_file}: [frames] `{}` belongs to no topic's `groups`",
                unused.0
            );
        }
        Ok(Grammar {
            words: [lo, hi],
            topics,
            slots: filled,
        })
    }
}

/// `{refer}` and `{entity}` expand to refer phrases; kept out of those phrases and of lists (which
/// refer phrases may use), they can never expand forever.
fn names_the_entity(template: &Template) -> bool {
    template
        .pieces
        .iter()
        .any(|p| matches!(p, Piece::Refer | Piece::Entity))
}

/// Slots in the order names, numbers, lists (lists are filled in once every name is known).
fn slots(vocab: &VocabularyFile, names: &NameData, file: &str) -> Result<Vec<Slot>> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let tables = [
        ("names", vocab.names.keys().collect::<Vec<_>>()),
        ("numbers", vocab.numbers.keys().collect()),
        ("lists", vocab.lists.keys().collect()),
    ];
    for (table, keys) in &tables {
        for key in keys {
            if BUILTINS.contains(&key.as_str()) {
                bail!("{file}: [{table}] `{key}` is a built-in placeholder's name");
            }
            if let Some(other) = seen.insert(key, table) {
                bail!("{file}: `{key}` is defined in both [{other}] and [{table}]");
            }
        }
    }
    let mut slots = Vec::new();
    for (slot, kind) in &vocab.names {
        if !names.kinds.contains_key(kind) {
            bail!("{file}: [names] `{slot}`: name kind `{kind}` is not in names.toml");
        }
        slots.push(Slot::Name(kind.clone()));
    }
    for (slot, number) in &vocab.numbers {
        if number.step == 0 || number.min > number.max {
            bail!("{file}: [numbers] `{slot}`: expected min <= max and step >= 1");
        }
        slots.push(Slot::Number(number.clone()));
    }
    for (slot, entries) in &vocab.lists {
        if entries.is_empty() {
            bail!("{file}: [lists] `{slot}` is empty");
        }
        slots.push(Slot::List(Vec::new()));
    }
    Ok(slots)
}

/// A list that reaches itself would never finish rendering.
fn check_acyclic(slots: &[Slot], names: &[&str], file: &str) -> Result<()> {
    /// `Err(slot)`: `slot` was reached again while still open, so `path` from it is a cycle.
    fn visit(
        at: usize,
        slots: &[Slot],
        open: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Result<(), usize> {
        match open[at] {
            1 => return Err(at),
            2 => return Ok(()),
            _ => {}
        }
        open[at] = 1;
        path.push(at);
        if let Slot::List(entries) = &slots[at] {
            for piece in entries.iter().flat_map(|t| &t.pieces) {
                if let Piece::Slot(next) = piece {
                    visit(*next, slots, open, path)?;
                }
            }
        }
        path.pop();
        open[at] = 2;
        Ok(())
    }
    let mut open = vec![0u8; slots.len()];
    for start in 0..slots.len() {
        let mut path = Vec::new();
        if let Err(again) = visit(start, slots, &mut open, &mut path) {
            let from = path.iter().position(|&i| i == again).unwrap_or(0);
            let cycle: Vec<&str> = path[from..]
                .iter()
                .chain([&again])
                .map(|&i| names[i])
                .collect();
            bail!(
                "{file}: [lists] `{}` refers back to itself: {}",
                names[again],
                cycle.join(" -> ")
            );
        }
    }
    Ok(())
}
