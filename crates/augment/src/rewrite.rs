//! bioR-style rewriting of bioS entries (Allen-Zhu & Li, Physics of LMs 3.1): each rewrite must
//! state all six attribute values exactly as the entry writes them (its spans), else it is
//! asked again.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use factlab_artifacts::{BioEntry, Person, ATTRIBUTES};

use crate::prompts::Prompt;
use crate::served::Job;
use crate::Strategy;

/// The dataset name of rewritten biographies.
pub const DATASET: &str = "bios";

/// `rewrites` jobs per entry, in entry order.
pub fn bio_jobs(
    entries: &[BioEntry],
    people: &[Person],
    prompts: &Path,
    rewrites: u32,
) -> Result<Vec<Job<'static>>> {
    let prompt = Prompt::load(prompts, "rewrite-bio", &["name", "entry", "values"])?;
    let names: HashMap<u32, &str> = people
        .iter()
        .map(|p| (p.person_id, p.name.as_str()))
        .collect();
    let mut jobs = Vec::new();
    for (row, entry) in entries.iter().enumerate() {
        let name = names.get(&entry.person_id).with_context(|| {
            format!(
                "biography row {row} is about person {}, who is not in the people file",
                entry.person_id
            )
        })?;
        let values: Vec<String> = (0..ATTRIBUTES.len())
            .map(|i| entry.value(i).to_string())
            .collect();
        let listed = values.join("\n");
        let messages = prompt.messages(&[
            ("name", name),
            ("entry", entry.text.as_str()),
            ("values", listed.as_str()),
        ]);
        for sample in 0..rewrites {
            jobs.push(Job {
                source_id: entry.person_id,
                row: row as u32,
                sample,
                dataset: DATASET.to_string(),
                strategy: Strategy::RewriteBio,
                messages: {
                    let messages = messages.clone();
                    Box::new(move || messages.clone())
                },
                must_contain: values.clone(),
                label: format!(
                    "person {} ({name}), {} entry {}, rewrite {sample}",
                    entry.person_id, entry.variant, entry.entry
                ),
            });
        }
    }
    Ok(jobs)
}
