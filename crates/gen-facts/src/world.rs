//! The invented world's vocabulary, loaded from `data/fictional/`: how names are built for each
//! kind of thing, which entity types exist, and for every relation the sentence templates that
//! state it, a descriptor that refers to the subject through it, and a cloze question about it.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const BUNDLED_NAMES: &str = include_str!("../../../data/fictional/names.toml");
const BUNDLED_RELATIONS: &str = include_str!("../../../data/fictional/relations.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameData {
    pub onsets: Vec<String>,
    pub nuclei: Vec<String>,
    pub codas: Vec<String>,
    /// Syllables per name core, inclusive range.
    pub syllables: [usize; 2],
    /// Name patterns per kind; `{C}` is a capitalised core, `{c}` a lower-case one.
    pub kinds: HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationData {
    #[serde(rename = "entity_type")]
    entity_types: Vec<EntityTypeData>,
    #[serde(rename = "relation")]
    relations: Vec<RelationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityTypeData {
    id: String,
    noun: String,
    name_kind: String,
    /// The relation whose sentence opens every paragraph about this type.
    opening: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelationSpec {
    id: String,
    /// Entity types this relation applies to; `["*"]` for all.
    subjects: Vec<String>,
    /// Name kind of the object.
    object: String,
    sentences: Vec<String>,
    descriptor: Option<String>,
    question: Option<String>,
}

/// A template split at its placeholders, so rendering is a few pushes into a `String`.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Subject,
    Object,
    Noun,
    Descriptor,
}

pub struct Slots<'a> {
    pub subject: &'a str,
    pub object: &'a str,
    pub noun: &'a str,
    pub descriptor: &'a str,
}

/// Splits `text` at its `{name}` placeholders: runs of text become `text_part`, each placeholder
/// becomes what `placeholder` makes of its name (or the error it gives).
pub(crate) fn split_template<P>(
    text: &str,
    text_part: impl Fn(String) -> P,
    placeholder: impl Fn(&str) -> Result<P>,
) -> Result<Vec<P>> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(text_part(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .with_context(|| format!("unclosed `{{` in template `{text}`"))?;
        parts.push(placeholder(&rest[open + 1..open + close])?);
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(text_part(rest.to_string()));
    }
    Ok(parts)
}

impl Template {
    fn parse(text: &str) -> Result<Self> {
        let parts = split_template(text, Part::Text, |name| {
            Ok(match name {
                "s" => Part::Subject,
                "o" => Part::Object,
                "t" => Part::Noun,
                "d" => Part::Descriptor,
                other => bail!("unknown placeholder `{{{other}}}` in template `{text}`"),
            })
        })?;
        Ok(Template { parts })
    }

    fn count(&self, part: &Part) -> usize {
        self.parts.iter().filter(|p| *p == part).count()
    }

    pub fn render_into(&self, out: &mut String, slots: &Slots) {
        for part in &self.parts {
            out.push_str(match part {
                Part::Text(t) => t,
                Part::Subject => slots.subject,
                Part::Object => slots.object,
                Part::Noun => slots.noun,
                Part::Descriptor => slots.descriptor,
            });
        }
    }

    pub fn render(&self, slots: &Slots) -> String {
        let mut out = String::new();
        self.render_into(&mut out, slots);
        out
    }
}

#[derive(Debug)]
pub struct EntityType {
    pub id: String,
    pub noun: String,
    pub name_kind: String,
    /// Indices into `World::relations`, the opening relation first.
    pub relations: Vec<usize>,
}

#[derive(Debug)]
pub struct Relation {
    pub id: String,
    pub object_kind: String,
    pub sentences: Vec<Template>,
    pub descriptor: Option<Template>,
    pub question: Option<Template>,
}

pub struct World {
    pub names: NameData,
    pub entity_types: Vec<EntityType>,
    pub relations: Vec<Relation>,
}

impl World {
    pub fn bundled() -> Result<Self> {
        Self::from_texts(BUNDLED_NAMES, BUNDLED_RELATIONS).context("bundled data/fictional files")
    }

    /// Loads `names.toml` and `relations.toml` from a folder (a user's edited copy).
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        Self::from_texts(&read("names.toml")?, &read("relations.toml")?)
            .with_context(|| format!("data files in {}", dir.display()))
    }

    fn from_texts(names: &str, relations: &str) -> Result<Self> {
        let names: NameData = toml::from_str(names).context("names.toml")?;
        let data: RelationData = toml::from_str(relations).context("relations.toml")?;
        let mut relations = Vec::new();
        for spec in &data.relations {
            relations.push(check_relation(spec, &names)?);
        }
        let mut entity_types = Vec::new();
        for t in &data.entity_types {
            if !names.kinds.contains_key(&t.name_kind) {
                bail!(
                    "entity type `{}`: unknown name kind `{}`",
                    t.id,
                    t.name_kind
                );
            }
            let applies =
                |spec: &RelationSpec| spec.subjects.iter().any(|s| s == "*" || *s == t.id);
            let opening = data
                .relations
                .iter()
                .position(|r| r.id == t.opening && applies(r))
                .with_context(|| {
                    format!(
                        "entity type `{}`: opening relation `{}` is not one of its relations",
                        t.id, t.opening
                    )
                })?;
            let mut indices = vec![opening];
            indices.extend(
                (0..data.relations.len()).filter(|&i| i != opening && applies(&data.relations[i])),
            );
            entity_types.push(EntityType {
                id: t.id.clone(),
                noun: t.noun.clone(),
                name_kind: t.name_kind.clone(),
                relations: indices,
            });
        }
        if entity_types.is_empty() {
            bail!("relations.toml defines no [[entity_type]]");
        }
        Ok(World {
            names,
            entity_types,
            relations,
        })
    }
}

/// Templates must keep the probe constructions valid: every sentence names its subject once and
/// ends with " {o}." so cutting before the object gives a cloze prompt that occurs verbatim.
fn check_relation(spec: &RelationSpec, names: &NameData) -> Result<Relation> {
    let context = || format!("relation `{}`", spec.id);
    if !names.kinds.contains_key(&spec.object) {
        bail!("{}: unknown object name kind `{}`", context(), spec.object);
    }
    if spec.sentences.len() < 3 {
        bail!(
            "{}: needs at least 3 sentence templates (one for the paragraph, one kept for its semantic probes, the others for paraphrases)",
            context()
        );
    }
    let mut sentences = Vec::new();
    for text in &spec.sentences {
        let t = Template::parse(text).with_context(context)?;
        if t.count(&Part::Subject) != 1
            || t.count(&Part::Object) != 1
            || t.count(&Part::Descriptor) != 0
        {
            bail!(
                "{}: sentence `{text}` must contain {{s}} and {{o}} once each",
                context()
            );
        }
        if !text.ends_with(" {o}.") {
            bail!("{}: sentence `{text}` must end with \" {{o}}.\"", context());
        }
        sentences.push(t);
    }
    let descriptor = match &spec.descriptor {
        Some(text) => {
            let t = Template::parse(text).with_context(context)?;
            if t.count(&Part::Object) != 1
                || t.count(&Part::Subject) != 0
                || t.count(&Part::Descriptor) != 0
            {
                bail!(
                    "{}: descriptor `{text}` must contain {{o}} once and no {{s}} or {{d}}",
                    context()
                );
            }
            Some(t)
        }
        None => None,
    };
    let question = match &spec.question {
        Some(text) => {
            let t = Template::parse(text).with_context(context)?;
            if t.count(&Part::Descriptor) != 1
                || t.count(&Part::Subject) != 0
                || t.count(&Part::Object) != 0
            {
                bail!(
                    "{}: question `{text}` must contain {{d}} once and no {{s}} or {{o}}",
                    context()
                );
            }
            if text.ends_with(' ') {
                bail!("{}: question `{text}` must not end with a space", context());
            }
            Some(t)
        }
        None => None,
    };
    Ok(Relation {
        id: spec.id.clone(),
        object_kind: spec.object.clone(),
        sentences,
        descriptor,
        question,
    })
}
