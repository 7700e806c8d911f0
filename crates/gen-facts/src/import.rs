//! Import of the public Fictional Knowledge release (Chang et al. 2024): a JSON list of objects
//! with `train_context`, `mem_input`/`mem_target`, `gen_input`/`gen_target`,
//! `hard_gen_input`/`hard_gen_target` (lists of strings) and optionally `paraphrases`.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use factlab_artifacts::{display_path, Knowledge, Probe, ProbeKind};
use serde_json::Value;

pub const DATASET: &str = "fictional-knowledge";

/// The release's probe fields, in the order probes are written.
const PROBE_FIELDS: [(ProbeKind, &str, &str); 3] = [
    (ProbeKind::Memorization, "mem_input", "mem_target"),
    (ProbeKind::Semantic, "gen_input", "gen_target"),
    (ProbeKind::Composition, "hard_gen_input", "hard_gen_target"),
];

fn read_text(path: &Path) -> Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading <stdin>")?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(text)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn string_list(
    entry: &serde_json::Map<String, Value>,
    field: &str,
    at: &str,
) -> Result<Vec<String>> {
    let value = entry
        .get(field)
        .with_context(|| format!("{at}: field `{field}` is missing; expected a list of strings"))?;
    let items = value.as_array().with_context(|| {
        format!(
            "{at}: field `{field}` is {}; expected a list of strings",
            kind_of(value)
        )
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str().map(str::to_string).with_context(|| {
                format!(
                    "{at}: field `{field}`, item {i} is {}; expected a string",
                    kind_of(item)
                )
            })
        })
        .collect()
}

/// Parses the release into knowledge rows and probes. Ids are the entries' positions.
pub fn import(path: &Path) -> Result<(Vec<Knowledge>, Vec<Probe>)> {
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_string()
    } else {
        display_path(path)
    };
    let text = read_text(path)?;
    let root: Value =
        serde_json::from_str(&text).with_context(|| format!("{name}: not valid JSON"))?;
    let entries = root.as_array().with_context(|| {
        format!(
            "{name}: the top level is {}; expected a list of entries",
            kind_of(&root)
        )
    })?;
    if entries.is_empty() {
        bail!("{name}: the list of entries is empty");
    }
    let (mut knowledge, mut probes) = (Vec::new(), Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("{name}: entry {index}");
        let entry = entry
            .as_object()
            .with_context(|| format!("{at} is {}; expected an object", kind_of(entry)))?;
        let context = match entry.get("train_context") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => bail!("{at}: field `train_context` is empty"),
            Some(other) => bail!(
                "{at}: field `train_context` is {}; expected a string",
                kind_of(other)
            ),
            None => bail!("{at}: field `train_context` is missing; expected a string"),
        };
        let paraphrases = match entry.get("paraphrases") {
            None | Some(Value::Null) => Vec::new(),
            Some(_) => string_list(entry, "paraphrases", &at)?,
        };
        let id = index as u32;
        for (kind, input_field, target_field) in PROBE_FIELDS {
            let inputs = string_list(entry, input_field, &at)?;
            let targets = string_list(entry, target_field, &at)?;
            if inputs.len() != targets.len() {
                bail!(
                    "{at}: `{input_field}` has {} items but `{target_field}` has {}; expected one target per input",
                    inputs.len(),
                    targets.len()
                );
            }
            for (i, (prompt, target)) in inputs.iter().zip(&targets).enumerate() {
                if target.trim().is_empty() {
                    bail!("{at}: field `{target_field}`, item {i} is empty; expected a target");
                }
                probes.push(Probe {
                    id: probes.len() as u32,
                    knowledge_id: id,
                    kind,
                    prompt: prompt.trim_end().to_string(),
                    target: target.trim().to_string(),
                    facts: Vec::new(),
                });
            }
        }
        knowledge.push(Knowledge {
            id,
            dataset: DATASET.to_string(),
            entity: None,
            entity_type: None,
            text: context,
            paraphrases,
            facts: Vec::new(),
        });
    }
    Ok((knowledge, probes))
}
