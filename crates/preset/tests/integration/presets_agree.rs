//! Presets that promise to differ from another only in named settings keep that promise.

use std::path::Path;

const VARIANTS: &str = "BIOS_VARIANTS :=";

fn variables(preset: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../pipelines/presets")
        .join(preset);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    preset::make_variables(&text)
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn variants(vars: &[String]) -> Vec<String> {
    let line = vars
        .iter()
        .find(|l| l.starts_with(VARIANTS))
        .expect("no BIOS_VARIANTS");
    line[VARIANTS.len()..]
        .trim()
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn all_but_variants(vars: &[String]) -> Vec<String> {
    vars.iter()
        .filter(|l| !l.starts_with(VARIANTS))
        .cloned()
        .collect()
}

#[test]
fn bios_tiny16_is_bios_tiny_with_the_paper_presets_sixteen_variants() {
    let tiny = variables("bios-tiny.toml");
    let tiny16 = variables("bios-tiny16.toml");
    assert_eq!(all_but_variants(&tiny), all_but_variants(&tiny16));
    assert_eq!(variants(&tiny16).len(), 16);
    assert_eq!(variants(&tiny16), variants(&variables("bios-paper.toml")));
    for variant in variants(&tiny) {
        assert!(
            variants(&tiny16).contains(&variant),
            "{variant} of bios-tiny is not in bios-tiny16"
        );
    }
}
