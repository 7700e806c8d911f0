use anyhow::{Context, Result};

const USAGE: &str = "usage: preset FILE.toml

Prints the preset's [section] key = value pairs as Make variables (SECTION_KEY := value).
Example: preset pipelines/presets/tiny.toml > results/work/tiny/preset.mk";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    if path == "-h" || path == "--help" {
        println!("{USAGE}");
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    print!(
        "{}",
        preset::make_variables(&text).with_context(|| format!("preset {path}"))?
    );
    Ok(())
}
