//! The relations file of the rules backend: sentence templates per relation (the first
//! canonical, the rest paraphrases), reworded templates that no test uses, reverse relations and
//! two-hop composition rules.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use factlab_artifacts::Triple;
use serde::Deserialize;

use crate::Wording;

#[derive(Debug, Deserialize)]
struct RelationsFile {
    #[serde(default)]
    relation: Vec<RelationSpec>,
    #[serde(default)]
    compose: Vec<ComposeRule>,
}

#[derive(Debug, Deserialize)]
struct RelationSpec {
    name: String,
    templates: Vec<String>,
    #[serde(default)]
    reworded: Vec<String>,
    reverse: Option<String>,
}

/// (a `first` b) and (b `second` c) imply (a `result` c).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ComposeRule {
    pub first: String,
    pub second: String,
    pub result: String,
}

#[derive(Debug)]
pub struct Relation {
    /// The wordings the datasets use: the canonical one first, then paraphrases.
    pub templates: Vec<String>,
    /// Wordings no dataset uses, for `--wording disjoint`.
    pub reworded: Vec<String>,
    pub reverse: Option<String>,
}

impl Relation {
    /// The templates of a wording: its first is the canonical one.
    pub fn wording(&self, wording: Wording) -> &[String] {
        match wording {
            Wording::Test => &self.templates,
            Wording::Disjoint => &self.reworded,
        }
    }
}

#[derive(Debug)]
pub struct Relations {
    by_name: HashMap<String, Relation>,
    pub compose: Vec<ComposeRule>,
}

impl Relations {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the relations file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("relations file {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let file: RelationsFile = toml::from_str(text)?;
        let mut by_name = HashMap::new();
        let used: HashSet<&str> = file
            .relation
            .iter()
            .flat_map(|spec| spec.templates.iter().map(String::as_str))
            .collect();
        for spec in &file.relation {
            for reworded in &spec.reworded {
                if let Some(template) = used.iter().find(|t| reworded.contains(*t)) {
                    bail!(
                        "relation `{}`: reworded `{reworded}` contains the template `{template}`, \
                         which the datasets use; expected a wording no dataset uses",
                        spec.name
                    );
                }
            }
        }
        for spec in file.relation {
            if spec.templates.is_empty() {
                bail!("relation `{}` has no templates", spec.name);
            }
            for template in spec.templates.iter().chain(&spec.reworded) {
                if !template.contains("{subject}") || !template.contains("{object}") {
                    bail!(
                        "relation `{}`: template `{template}` lacks {{subject}} or {{object}}",
                        spec.name
                    );
                }
            }
            let relation = Relation {
                templates: spec.templates,
                reworded: spec.reworded,
                reverse: spec.reverse,
            };
            if by_name.insert(spec.name.clone(), relation).is_some() {
                bail!("relation `{}` is defined twice", spec.name);
            }
        }
        let known = |name: &str, what: &str| {
            if by_name.contains_key(name) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{what} names relation `{name}`, which is not defined"
                ))
            }
        };
        for (name, relation) in &by_name {
            if let Some(reverse) = &relation.reverse {
                known(reverse, &format!("the reverse of `{name}`"))?;
            }
        }
        for rule in &file.compose {
            for name in [&rule.first, &rule.second, &rule.result] {
                known(name, "a [[compose]] rule")?;
            }
        }
        Ok(Relations {
            by_name,
            compose: file.compose,
        })
    }

    /// The relation of a fact; facts whose relation the file lacks are an error, not skipped,
    /// so a wrong relations file cannot silently yield no augmentation.
    pub fn get(&self, name: &str) -> Result<&Relation> {
        self.by_name.get(name).with_context(|| {
            format!("facts use relation `{name}`, which the relations file does not define")
        })
    }

    /// The fact stated the other way round, if its relation has a reverse.
    pub fn reverse(&self, fact: &Triple) -> Result<Option<Triple>> {
        Ok(self
            .get(&fact.relation)?
            .reverse
            .as_ref()
            .map(|reverse| Triple {
                subject: fact.object.clone(),
                relation: reverse.clone(),
                object: fact.subject.clone(),
            }))
    }

    /// The templates of a fact's relation in `wording`; a relation with none there is an error.
    pub fn templates(&self, fact: &Triple, wording: Wording) -> Result<&[String]> {
        let templates = self.get(&fact.relation)?.wording(wording);
        if templates.is_empty() {
            bail!(
                "relation `{}` has no `reworded` templates in the relations file; --wording \
                 disjoint states every derived fact in one",
                fact.relation
            );
        }
        Ok(templates)
    }

    /// `fact` in the words of template `index` of its relation's `wording`.
    pub fn render(&self, fact: &Triple, wording: Wording, index: usize) -> Result<String> {
        let template = &self.templates(fact, wording)?[index];
        Ok(fill(template, &fact.subject, &fact.object))
    }
}

/// Substitutes in one pass, so braces inside a name are left alone.
fn fill(template: &str, subject: &str, object: &str) -> String {
    let mut out = String::with_capacity(template.len() + subject.len() + object.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("{subject}") {
            out.push_str(subject);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{object}") {
            out.push_str(object);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}
