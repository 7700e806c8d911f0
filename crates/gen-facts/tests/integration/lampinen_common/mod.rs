//! What the Lampinen dataset tests share: their own reading of data/lampinen/relations.toml (not
//! the generator's), a closure of facts under its reverse and compose rules, and word checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use factlab_artifacts::Triple;
use serde::Deserialize;

pub type Fact = (String, String, String);

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/lampinen")
}

#[derive(Deserialize)]
pub struct RelationFile {
    pub relation: Vec<RelationEntry>,
    #[serde(default)]
    pub compose: Vec<ComposeEntry>,
}

#[derive(Deserialize)]
pub struct RelationEntry {
    pub name: String,
    pub templates: Vec<String>,
    pub reverse: Option<String>,
}

#[derive(Deserialize)]
pub struct ComposeEntry {
    pub first: String,
    pub second: String,
    pub result: String,
}

pub struct Relations {
    pub by_name: BTreeMap<String, RelationEntry>,
    pub compose: Vec<ComposeEntry>,
}

impl Relations {
    pub fn load() -> Self {
        let text = std::fs::read_to_string(data_dir().join("relations.toml")).unwrap();
        let file: RelationFile = toml::from_str(&text).unwrap();
        Relations {
            by_name: file
                .relation
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            compose: file.compose,
        }
    }

    pub fn reverse(&self, relation: &str) -> Option<&str> {
        self.by_name[relation].reverse.as_deref()
    }

    /// Every wording of the fact, the canonical one first.
    pub fn sentences(&self, fact: &Triple) -> Vec<String> {
        self.by_name
            .get(&fact.relation)
            .unwrap_or_else(|| panic!("relation `{}` is not in relations.toml", fact.relation))
            .templates
            .iter()
            .map(|t| {
                t.replace("{subject}", &fact.subject)
                    .replace("{object}", &fact.object)
            })
            .collect()
    }

    /// The facts with their reverses, closed under the compose rules.
    pub fn closure(&self, facts: impl IntoIterator<Item = Fact>) -> HashSet<Fact> {
        let mut known: HashSet<Fact> = HashSet::new();
        let add = |known: &mut HashSet<Fact>, fact: Fact| -> bool {
            let reverse = self
                .reverse(&fact.1)
                .map(|r| (fact.2.clone(), r.to_string(), fact.0.clone()));
            let new = known.insert(fact);
            if let Some(reverse) = reverse {
                known.insert(reverse);
            }
            new
        };
        for fact in facts {
            add(&mut known, fact);
        }
        loop {
            let mut objects: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
            for (a, r, b) in &known {
                objects.entry((a, r)).or_default().push(b);
            }
            let mut derived = Vec::new();
            for (a, r1, b) in &known {
                for rule in self.compose.iter().filter(|c| &c.first == r1) {
                    for c in objects
                        .get(&(b.as_str(), rule.second.as_str()))
                        .into_iter()
                        .flatten()
                    {
                        if a != c {
                            derived.push((a.clone(), rule.result.clone(), c.to_string()));
                        }
                    }
                }
            }
            let mut grew = false;
            for fact in derived {
                grew |= add(&mut known, fact);
            }
            if !grew {
                return known;
            }
        }
    }
}

pub fn fact(t: &Triple) -> Fact {
    (t.subject.clone(), t.relation.clone(), t.object.clone())
}

pub fn stoplist() -> HashSet<String> {
    std::fs::read_to_string(data_dir().join("stoplist.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// 4–5 lower-case letters, not a real word of the stoplist, nor its plural.
pub fn assert_nonsense(word: &str, stoplist: &HashSet<String>) {
    assert!(
        (4..=5).contains(&word.len()) && word.chars().all(|c| c.is_ascii_lowercase()),
        "`{word}` is not 4–5 lower-case letters"
    );
    for stem in [Some(word), word.strip_suffix('s'), word.strip_suffix("es")]
        .into_iter()
        .flatten()
    {
        assert!(!stoplist.contains(stem), "`{word}` is a real word");
    }
}

/// Words of a text, split at anything but letters and hyphens.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphabetic() || c == '-'))
        .filter(|w| !w.is_empty())
}
