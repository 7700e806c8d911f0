//! A preset is a TOML file of tables of scalars (`[train] base_steps = 300`); `make_variables`
//! turns it into `TRAIN_BASE_STEPS := 300` lines for `include` in the Makefile. Lists become
//! comma-separated values. Keys added after the presets were written have defaults, so older
//! presets keep working and the Makefile never reads an undefined variable.
//!
//! Every value becomes a stage's flag, whose bounds (`factlab_cli::bounds`) check it when the
//! stage reads it; a float that is NaN or infinite is refused here already, since no flag takes
//! one.

use anyhow::{bail, Result};
use factlab_cli::Bounds;
use toml::Value;

fn scalar(path: &str, value: &Value) -> Result<String> {
    Ok(match value {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => factlab_cli::finite_f64()
            .check(&format!("`{path}`"), *f)?
            .to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| scalar(path, item))
            .collect::<Result<Vec<_>>>()?
            .join(","),
        other => bail!(
            "`{path}` is a {}; a preset holds tables of strings, numbers, booleans and lists",
            other.type_str()
        ),
    })
}

/// Optional keys: `(section, key, value)` taken when a preset's section lacks the key.
const DEFAULTS: &[(&str, &str, &str)] = &[
    // Empty: full finetuning; a rank: LoRA (`train --lora-rank` / `--lora-embedding-rank`).
    ("bios_finetune", "lora_rank", ""),
    ("bios_finetune", "lora_embedding_rank", ""),
    // The continuation's LR (`train --continuation-lr`) and its foil steps (empty: no foils).
    ("train", "continuation_lr", "hold"),
    ("train", "foil_eval", ""),
];

/// `SECTION_KEY := value` for every key of every top-level table, sorted by name.
pub fn make_variables(text: &str) -> Result<String> {
    let mut root: toml::Table = text.parse()?;
    for (section, key, value) in DEFAULTS {
        if let Some(Value::Table(table)) = root.get_mut(*section) {
            table
                .entry(key.to_string())
                .or_insert_with(|| Value::String(value.to_string()));
        }
    }
    let mut out = String::new();
    for (section, table) in &root {
        let Value::Table(table) = table else {
            bail!("`{section}` must be a table: [{section}] followed by key = value lines");
        };
        for (key, value) in table {
            let name = format!("{section}_{key}").to_uppercase().replace('-', "_");
            let value = scalar(&format!("{section}.{key}"), value)?;
            if value.contains('\n') || value.contains('$') {
                bail!("`{section}.{key}` must not contain a newline or `$`");
            }
            out.push_str(&format!("{name} := {value}\n"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_become_upper_case_variables() {
        let text = "[base]\nsteps = 300\nlr = 0.001\nstages = [50, 100]\n[model]\nsmall = \"pipelines/models/tiny.toml\"\n";
        assert_eq!(
            make_variables(text).unwrap(),
            "BASE_LR := 0.001\nBASE_STAGES := 50,100\nBASE_STEPS := 300\nMODEL_SMALL := pipelines/models/tiny.toml\n"
        );
    }

    #[test]
    fn optional_keys_take_their_defaults() {
        let text = "[bios_finetune]\nsteps = 4\n";
        assert_eq!(
            make_variables(text).unwrap(),
            "BIOS_FINETUNE_LORA_EMBEDDING_RANK := \nBIOS_FINETUNE_LORA_RANK := \nBIOS_FINETUNE_STEPS := 4\n"
        );
        let text = "[bios_finetune]\nlora_rank = 8\n";
        assert!(make_variables(text)
            .unwrap()
            .contains("BIOS_FINETUNE_LORA_RANK := 8\n"));
        assert_eq!(
            make_variables("[train]\nx = 1\n").unwrap(),
            "TRAIN_CONTINUATION_LR := hold\nTRAIN_FOIL_EVAL := \nTRAIN_X := 1\n"
        );
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        for value in ["nan", "inf", "-inf", "[1.0, nan]"] {
            let error = make_variables(&format!("[train]\nlr = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("`train.lr` is") && error.ends_with("expected a finite number"),
                "{error}"
            );
        }
    }

    #[test]
    fn nested_tables_and_top_level_keys_are_refused() {
        assert!(make_variables("steps = 3")
            .unwrap_err()
            .to_string()
            .contains("`steps` must be a table"));
        assert!(make_variables("[a]\nb = { c = 1 }")
            .unwrap_err()
            .to_string()
            .contains("`a.b` is a table"));
    }
}
