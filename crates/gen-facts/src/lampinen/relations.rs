//! `data/lampinen/relations.toml`: every relation the Lampinen datasets state or test, with the
//! sentences that state it, its reverse and the two-hop rules between relations. Other programs
//! read the same file, so the generator renders its sentences from it rather than from code.

use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;

use crate::world::split_template;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationFile {
    relation: Vec<RelationSpec>,
    #[serde(default)]
    compose: Vec<Compose>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationSpec {
    name: String,
    templates: Vec<String>,
    /// Wordings that the datasets never use, for the rules augmenter (which checks them): the
    /// generator accepts the key and never reads it.
    #[serde(default, rename = "reworded")]
    _reworded: serde::de::IgnoredAny,
    reverse: Option<String>,
}

/// (a `first` b) and (b `second` c) imply (a `result` c).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Compose {
    pub first: String,
    pub second: String,
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Subject,
    Object,
}

/// A sentence with one subject and one object slot.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let pieces = split_template(text, Piece::Text, |name| match name {
            "subject" => Ok(Piece::Subject),
            "object" => Ok(Piece::Object),
            other => bail!(
                "unknown placeholder `{{{other}}}` in `{text}`; expected {{subject}} and {{object}}"
            ),
        })?;
        for slot in [Piece::Subject, Piece::Object] {
            ensure!(
                pieces.iter().filter(|p| **p == slot).count() == 1,
                "`{text}` must contain {{subject}} and {{object}} once each"
            );
        }
        Ok(Template { pieces })
    }

    pub fn render(&self, subject: &str, object: &str) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Subject => out.push_str(subject),
                Piece::Object => out.push_str(object),
            }
        }
        out
    }
}

pub struct Relation {
    pub name: String,
    /// The first is the canonical sentence of training documents, the rest paraphrases.
    pub templates: Vec<Template>,
    pub reverse: Option<String>,
}

pub struct Relations {
    by_name: BTreeMap<String, Relation>,
    pub compose: Vec<Compose>,
}

impl Relations {
    pub fn parse(text: &str) -> Result<Self> {
        let file: RelationFile = toml::from_str(text)?;
        let mut by_name = BTreeMap::new();
        for spec in file.relation {
            ensure!(
                !spec.templates.is_empty(),
                "relation `{}` has no templates",
                spec.name
            );
            let distinct: HashSet<&String> = spec.templates.iter().collect();
            ensure!(
                distinct.len() == spec.templates.len(),
                "relation `{}` lists a template twice",
                spec.name
            );
            let templates = spec
                .templates
                .iter()
                .map(|t| Template::parse(t))
                .collect::<Result<_>>()
                .with_context(|| format!("relation `{}`", spec.name))?;
            let relation = Relation {
                name: spec.name.clone(),
                templates,
                reverse: spec.reverse,
            };
            ensure!(
                by_name.insert(spec.name.clone(), relation).is_none(),
                "relation `{}` is defined twice",
                spec.name
            );
        }
        for relation in by_name.values() {
            if let Some(reverse) = &relation.reverse {
                let back = by_name.get(reverse).with_context(|| {
                    format!(
                        "relation `{}`: its reverse `{reverse}` is not defined",
                        relation.name
                    )
                })?;
                ensure!(
                    back.reverse.as_deref() == Some(relation.name.as_str()),
                    "relation `{}` reverses to `{reverse}`, but `{reverse}` does not reverse to \
                     `{}`",
                    relation.name,
                    relation.name
                );
            }
        }
        for rule in &file.compose {
            for name in [&rule.first, &rule.second, &rule.result] {
                ensure!(
                    by_name.contains_key(name),
                    "compose rule {} ∘ {} → {}: relation `{name}` is not defined",
                    rule.first,
                    rule.second,
                    rule.result
                );
            }
        }
        Ok(Relations {
            by_name,
            compose: file.compose,
        })
    }

    pub fn get(&self, name: &str) -> Result<&Relation> {
        self.by_name
            .get(name)
            .with_context(|| format!("relation `{name}` is not defined in relations.toml"))
    }

    /// The relation's reverse, which the datasets that test reversals need.
    pub fn reverse_of(&self, name: &str) -> Result<&Relation> {
        let relation = self.get(name)?;
        let reverse = relation.reverse.as_deref().with_context(|| {
            format!("relation `{name}` has no `reverse` in relations.toml; its reversal is tested")
        })?;
        self.get(reverse)
    }

    /// The canonical sentence stating (subject relation object).
    pub fn state(&self, subject: &str, relation: &str, object: &str) -> Result<String> {
        Ok(self.get(relation)?.templates[0].render(subject, object))
    }
}
