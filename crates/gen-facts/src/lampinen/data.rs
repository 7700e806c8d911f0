//! What the Lampinen datasets are written from, loaded from `data/lampinen/` (or a user's copy of
//! that folder): relations, sound pieces, the stoplist, comparison features, preambles, the
//! wording around facts and the category hierarchy. Every error names the file it is in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::Deserialize;

use super::relations::{Relations, Template};
use super::words::Phonemes;

macro_rules! bundled {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!("../../../../data/lampinen/", $file)),
        )
    };
}

const RELATIONS: (&str, &str) = bundled!("relations.toml");
const PHONEMES: (&str, &str) = bundled!("phonemes.toml");
const STOPLIST: (&str, &str) = bundled!("stoplist.txt");
const FEATURES: (&str, &str) = bundled!("features.toml");
const PREAMBLES: (&str, &str) = bundled!("preambles.txt");
const STYLES: (&str, &str) = bundled!("styles.toml");
const HIERARCHY: (&str, &str) = bundled!("hierarchy.toml");

/// The relation every category states about its parent.
pub const IS_A: &str = "is-a";

/// A comparison dimension: a relation and its opposite.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    pub more: String,
    pub less: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureFile {
    feature: Vec<Feature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleFile {
    syllogisms: SyllogismStyle,
    semantic: SemanticStyleSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyllogismStyle {
    context: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SemanticStyleSpec {
    list_headers: Vec<String>,
    qa: BTreeMap<String, String>,
}

pub struct Styles {
    /// With `{entities}` for the names.
    pub syllogism_context: String,
    pub list_headers: Vec<String>,
    /// A question-and-answer line per relation.
    pub qa: HashMap<String, Template>,
}

#[derive(Deserialize)]
struct CategorySpec {
    name: String,
    parent: Option<String>,
    /// Relation name → real words.
    #[serde(flatten)]
    properties: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HierarchyFile {
    category: Vec<CategorySpec>,
}

/// One category of the hierarchy, in real words.
pub struct Category {
    pub name: String,
    pub parent: Option<usize>,
    /// (relation, value), in file order within each relation, relations by name.
    pub properties: Vec<(String, String)>,
}

pub struct LampinenData {
    pub relations: Relations,
    pub phonemes: Phonemes,
    pub stoplist: HashSet<String>,
    pub features: Vec<Feature>,
    pub preambles: Vec<String>,
    pub styles: Styles,
    pub categories: Vec<Category>,
}

impl LampinenData {
    pub fn bundled() -> Result<Self> {
        Self::from_source(|(file, text)| Ok((file.to_string(), text.to_string())))
            .context("bundled data/lampinen files")
    }

    /// Loads a folder laid out like `data/lampinen/`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::from_source(|(file, _)| {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((path.display().to_string(), text))
        })
    }

    fn from_source(
        read: impl Fn((&'static str, &'static str)) -> Result<(String, String)>,
    ) -> Result<Self> {
        fn parsed<T>(
            read: &impl Fn((&'static str, &'static str)) -> Result<(String, String)>,
            file: (&'static str, &'static str),
            parse: impl FnOnce(&str) -> Result<T>,
        ) -> Result<T> {
            let (origin, text) = read(file)?;
            parse(&text).with_context(|| format!("in {origin}"))
        }
        let relations = parsed(&read, RELATIONS, Relations::parse)?;
        let phonemes = parsed(&read, PHONEMES, Phonemes::parse)?;
        let stoplist = parsed(&read, STOPLIST, |t| {
            Ok(lines(t).map(str::to_lowercase).collect())
        })?;
        let features = parsed(&read, FEATURES, |t| parse_features(t, &relations))?;
        let preambles = parsed(&read, PREAMBLES, |t| {
            let list: Vec<String> = lines(t).map(String::from).collect();
            ensure!(!list.is_empty(), "no preambles");
            Ok(list)
        })?;
        let styles = parsed(&read, STYLES, parse_styles)?;
        let categories = parsed(&read, HIERARCHY, |t| parse_hierarchy(t, &relations))?;
        Ok(LampinenData {
            relations,
            phonemes,
            stoplist,
            features,
            preambles,
            styles,
            categories,
        })
    }
}

/// Non-blank lines without `#` comments.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

fn parse_features(text: &str, relations: &Relations) -> Result<Vec<Feature>> {
    let file: FeatureFile = toml::from_str(text)?;
    let mut seen = HashSet::new();
    for feature in &file.feature {
        ensure!(
            seen.insert(feature.name.clone()),
            "feature `{}` is listed twice",
            feature.name
        );
        let more = relations
            .get(&feature.more)
            .with_context(|| format!("feature `{}`", feature.name))?;
        ensure!(
            more.reverse.as_deref() == Some(feature.less.as_str()),
            "feature `{}`: relation `{}` must have `{}` as its reverse in relations.toml",
            feature.name,
            feature.more,
            feature.less
        );
    }
    ensure!(!file.feature.is_empty(), "no features");
    Ok(file.feature)
}

fn parse_styles(text: &str) -> Result<Styles> {
    let file: StyleFile = toml::from_str(text)?;
    ensure!(
        file.syllogisms.context.matches("{entities}").count() == 1,
        "[syllogisms] context must contain {{entities}} once"
    );
    ensure!(
        !file.semantic.list_headers.is_empty(),
        "[semantic] list_headers is empty"
    );
    let qa = file
        .semantic
        .qa
        .into_iter()
        .map(|(relation, line)| {
            let template =
                Template::parse(&line).with_context(|| format!("[semantic.qa] {relation}"))?;
            Ok((relation, template))
        })
        .collect::<Result<_>>()?;
    Ok(Styles {
        syllogism_context: file.syllogisms.context,
        list_headers: file.semantic.list_headers,
        qa,
    })
}

const MAX_OWN_PROPERTIES: usize = 6;

fn parse_hierarchy(text: &str, relations: &Relations) -> Result<Vec<Category>> {
    let file: HierarchyFile = toml::from_str(text)?;
    let index: HashMap<&str, usize> = file
        .category
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    ensure!(
        index.len() == file.category.len(),
        "a category name is listed twice"
    );
    let mut categories = Vec::with_capacity(file.category.len());
    for spec in &file.category {
        let parent = match &spec.parent {
            Some(name) => Some(*index.get(name.as_str()).with_context(|| {
                format!(
                    "category `{}`: parent `{name}` is not a category",
                    spec.name
                )
            })?),
            None => None,
        };
        let mut properties = Vec::new();
        for (relation, values) in &spec.properties {
            ensure!(
                relation != IS_A,
                "category `{}`: `{IS_A}` is given by `parent`",
                spec.name
            );
            relations
                .get(relation)
                .with_context(|| format!("category `{}`", spec.name))?;
            for value in values {
                ensure!(
                    !index.contains_key(value.as_str()),
                    "category `{}`: property `{value}` is also a category name; a word must \
                     name one thing",
                    spec.name
                );
                properties.push((relation.clone(), value.clone()));
            }
        }
        ensure!(
            (1..=MAX_OWN_PROPERTIES).contains(&properties.len()),
            "category `{}` has {} own properties; expected 1 to {MAX_OWN_PROPERTIES}",
            spec.name,
            properties.len()
        );
        categories.push(Category {
            name: spec.name.clone(),
            parent,
            properties,
        });
    }
    for (i, category) in categories.iter().enumerate() {
        let mut inherited = HashSet::new();
        let mut at = category.parent;
        let mut steps = 0;
        while let Some(ancestor) = at {
            steps += 1;
            ensure!(
                steps <= categories.len(),
                "category `{}` is its own ancestor",
                category.name
            );
            inherited.extend(categories[ancestor].properties.iter());
            at = categories[ancestor].parent;
        }
        let mut own = HashSet::new();
        for property in &categories[i].properties {
            ensure!(
                !inherited.contains(property) && own.insert(property),
                "category `{}`: `{} {}` is stated twice or already inherited",
                category.name,
                property.0,
                property.1
            );
        }
    }
    Ok(categories)
}
