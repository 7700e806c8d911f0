//! What biographies are written from, loaded from `data/bios/`: the attribute pools (one item per
//! line, `#` comments) and the sentence templates and questions of every attribute.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use factlab_artifacts::ATTRIBUTES;
use serde::Deserialize;

use crate::world::split_template;

macro_rules! bundled {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!("../../../../data/bios/", $file)),
        )
    };
}

const FIRST_NAMES: (&str, &str) = bundled!("pools/first_names.txt");
const MIDDLE_NAMES: (&str, &str) = bundled!("pools/middle_names.txt");
const LAST_NAMES: (&str, &str) = bundled!("pools/last_names.txt");
const BIRTH_CITIES: (&str, &str) = bundled!("pools/birth_cities.txt");
const UNIVERSITIES: (&str, &str) = bundled!("pools/universities.txt");
const MAJORS: (&str, &str) = bundled!("pools/majors.txt");
const COMPANIES: (&str, &str) = bundled!("pools/companies.txt");
const TEMPLATES: (&str, &str) = bundled!("templates.toml");

pub struct Company {
    pub name: String,
    /// Headquarters, "City, ST": where its employees work.
    pub city: String,
}

pub struct Pools {
    pub first_names: Vec<String>,
    pub middle_names: Vec<String>,
    pub last_names: Vec<String>,
    pub birth_cities: Vec<String>,
    pub universities: Vec<String>,
    pub majors: Vec<String>,
    pub companies: Vec<Company>,
}

/// A sentence template split at its placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Subject,
    Was,
    Has,
    Is,
    Their,
    Value,
}

/// How the person is referred to in one sentence.
pub struct Reference<'a> {
    /// Sentence-initial subject: the full name or "He" / "She" / "They".
    pub subject: &'a str,
    /// "his" / "her" / "their", or the full name's possessive.
    pub possessive: &'a str,
    /// Whether verbs agree with a plural subject (They were, they have).
    pub plural: bool,
}

impl Sentence {
    fn parse(text: &str) -> Result<Self> {
        let parts = split_template(text, Part::Text, |name| {
            Ok(match name {
                "Subject" => Part::Subject,
                "was" => Part::Was,
                "has" => Part::Has,
                "is" => Part::Is,
                "their" => Part::Their,
                "value" => Part::Value,
                other => bail!(
                    "unknown placeholder `{{{other}}}` in `{text}`; expected {{Subject}}, {{was}}, \
                     {{has}}, {{is}}, {{their}} or {{value}}"
                ),
            })
        })?;
        let count = |part: &Part| parts.iter().filter(|p| *p == part).count();
        ensure!(
            parts.first() == Some(&Part::Subject) && count(&Part::Subject) == 1,
            "`{text}` must open with {{Subject}} and name it once: the permuted variants move \
             the name to whichever sentence comes first"
        );
        ensure!(
            count(&Part::Value) == 1,
            "`{text}` must state {{value}} exactly once"
        );
        Ok(Sentence { parts })
    }

    /// Appends the sentence to `out` and returns the byte range of the value in `out`.
    pub fn render_into(
        &self,
        out: &mut String,
        who: &Reference,
        value: &str,
    ) -> std::ops::Range<usize> {
        let mut span = 0..0;
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Subject => out.push_str(who.subject),
                Part::Was => out.push_str(if who.plural { "were" } else { "was" }),
                Part::Has => out.push_str(if who.plural { "have" } else { "has" }),
                Part::Is => out.push_str(if who.plural { "are" } else { "is" }),
                Part::Their => out.push_str(who.possessive),
                Part::Value => {
                    span.start = out.len();
                    out.push_str(value);
                    span.end = out.len();
                }
            }
        }
        span
    }
}

pub struct AttributeTemplates {
    /// Sentences stating the attribute, one drawn per biography entry.
    pub sentences: Vec<Sentence>,
    /// The question asking for it, with `{name}` for the full name.
    pub question: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    attribute: Vec<AttributeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeSpec {
    id: String,
    question: String,
    sentences: Vec<String>,
}

pub struct BioData {
    pub pools: Pools,
    /// In [`ATTRIBUTES`] order.
    pub templates: Vec<AttributeTemplates>,
}

impl BioData {
    pub fn bundled() -> Result<Self> {
        let source =
            |(file, text): (&'static str, &'static str)| Ok((file.to_string(), text.into()));
        Self::from_source(source).context("bundled data/bios files")
    }

    /// Loads a folder laid out like `data/bios/` (a user's edited copy).
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
        let list = |file| -> Result<Vec<String>> {
            let (origin, text) = read(file)?;
            parse_list(&text).with_context(|| format!("in {origin}"))
        };
        let (origin, companies) = read(COMPANIES)?;
        let companies = parse_companies(&companies).with_context(|| format!("in {origin}"))?;
        let pools = Pools {
            first_names: list(FIRST_NAMES)?,
            middle_names: list(MIDDLE_NAMES)?,
            last_names: list(LAST_NAMES)?,
            birth_cities: list(BIRTH_CITIES)?,
            universities: list(UNIVERSITIES)?,
            majors: list(MAJORS)?,
            companies,
        };
        let (origin, text) = read(TEMPLATES)?;
        let templates = parse_templates(&text).with_context(|| format!("in {origin}"))?;
        Ok(BioData { pools, templates })
    }
}

/// One item per line; blank lines and `#` comments are skipped. Items must be unique, and none
/// may end in a period, since every sentence ends with its value followed by one.
fn parse_list(text: &str) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let item = line.trim();
        if item.is_empty() || item.starts_with('#') {
            continue;
        }
        ensure!(
            !item.ends_with('.'),
            "line {}: `{item}` ends with a period; the sentence adds its own",
            number + 1
        );
        ensure!(
            seen.insert(item.to_string()),
            "line {}: `{item}` is listed twice",
            number + 1
        );
        items.push(item.to_string());
    }
    ensure!(!items.is_empty(), "the list is empty");
    Ok(items)
}

/// Lines of "Company; City, ST".
fn parse_companies(text: &str) -> Result<Vec<Company>> {
    parse_list(text)?
        .into_iter()
        .map(|line| {
            let (name, city) = line
                .split_once(';')
                .with_context(|| format!("`{line}`: expected \"Company; City, ST\""))?;
            let (name, city) = (name.trim(), city.trim());
            ensure!(
                !name.is_empty() && !city.is_empty(),
                "`{line}`: expected \"Company; City, ST\""
            );
            Ok(Company {
                name: name.to_string(),
                city: city.to_string(),
            })
        })
        .collect()
}

fn parse_templates(text: &str) -> Result<Vec<AttributeTemplates>> {
    let file: TemplateFile = toml::from_str(text)?;
    let ids: Vec<&str> = file.attribute.iter().map(|a| a.id.as_str()).collect();
    ensure!(
        ids == ATTRIBUTES,
        "attributes are {ids:?}; expected one [[attribute]] table each for {ATTRIBUTES:?}, in \
         that order"
    );
    file.attribute
        .into_iter()
        .map(|spec| {
            ensure!(
                spec.question.matches("{name}").count() == 1,
                "{}: the question `{}` must contain {{name}} once",
                spec.id,
                spec.question
            );
            let distinct: BTreeSet<&String> = spec.sentences.iter().collect();
            ensure!(
                !spec.sentences.is_empty() && distinct.len() == spec.sentences.len(),
                "{}: expected distinct sentences, at least one",
                spec.id
            );
            let sentences = spec
                .sentences
                .iter()
                .map(|s| Sentence::parse(s))
                .collect::<Result<_>>()
                .with_context(|| format!("attribute {}", spec.id))?;
            Ok(AttributeTemplates {
                sentences,
                question: spec.question,
            })
        })
        .collect()
}
