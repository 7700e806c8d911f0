//! Writing one figure three ways: PNG, SVG and a Markdown table of the plotted numbers, each
//! through a temporary file renamed when complete.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

pub const FONT: &str = "sans-serif";

/// DejaVu Sans is bundled so that figures look the same on machines without system fonts.
static FONT_BYTES: &[u8] = include_bytes!("../../../data/fonts/DejaVuSans.ttf");

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("the bundled font loads"));
    });
}

/// Plotters' errors carry the backend's type; the stages only need their message.
pub fn drawing<E: std::fmt::Display>(error: E) -> anyhow::Error {
    anyhow!("drawing failed: {error}")
}

pub trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;
    fn table(&self) -> String;
}

fn with_extension(prefix: &Path, extension: &str) -> PathBuf {
    let mut name = prefix.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{extension}"));
    prefix.with_file_name(name)
}

/// Writes `PREFIX.png`, `PREFIX.svg` and `PREFIX.md`.
pub fn save(figure: &impl Figure, prefix: &Path) -> Result<()> {
    register_font();
    if let Some(folder) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    let png = with_extension(prefix, "png");
    let png_name = png.file_name().unwrap_or_default().to_string_lossy();
    let folder = match png.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // A killed run's temporary is removed here; one a live run is drawing is kept: the drawing
    // run holds a lock on it, the rule of every output (see `factlab_artifacts::outputs`).
    let prefix_of_temporaries = format!(".{png_name}.");
    factlab_artifacts::outputs::remove_stale(folder, &prefix_of_temporaries, ".tmp.png", |pid| {
        !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    });
    let temporary_png = png.with_file_name(format!(
        "{prefix_of_temporaries}{}.tmp.png",
        std::process::id()
    ));
    let mut attempts = 0;
    let _held = loop {
        let file = std::fs::File::create(&temporary_png)
            .with_context(|| format!("writing {}", temporary_png.display()))?;
        attempts += 1;
        // Another try only if a cleaner removed the file before it was locked.
        if factlab_artifacts::outputs::hold(&file, &temporary_png)
            .with_context(|| format!("writing {}", temporary_png.display()))?
            || attempts == 8
        {
            break file;
        }
    };
    let drawn = (|| -> Result<()> {
        // The backend writes the same file through its own handle; the lock stays with ours.
        let area = BitMapBackend::new(&temporary_png, figure.size()).into_drawing_area();
        area.fill(&WHITE).map_err(drawing)?;
        figure.draw(&area)?;
        area.present().map_err(drawing)?;
        Ok(())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&temporary_png);
        return Err(e);
    }
    std::fs::rename(&temporary_png, &png).with_context(|| format!("writing {}", png.display()))?;

    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        area.fill(&WHITE).map_err(drawing)?;
        figure.draw(&area)?;
        area.present().map_err(drawing)?;
    }
    factlab_artifacts::write_atomic(&with_extension(prefix, "svg"), svg.as_bytes())?;
    factlab_artifacts::write_atomic(&with_extension(prefix, "md"), figure.table().as_bytes())?;
    Ok(())
}

pub const KIND_COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
];

pub const RUN_COLOURS: [RGBColor; 5] = [
    RGBColor(158, 202, 225),
    RGBColor(66, 146, 198),
    RGBColor(8, 69, 148),
    RGBColor(161, 217, 155),
    RGBColor(35, 139, 69),
];

#[cfg(test)]
mod tests {
    use super::*;

    struct Blank;

    impl Figure for Blank {
        fn size(&self) -> (u32, u32) {
            (20, 10)
        }
        fn draw<DB: DrawingBackend>(&self, _area: &DrawingArea<DB, Shift>) -> Result<()> {
            Ok(())
        }
        fn table(&self) -> String {
            "| a |\n".into()
        }
    }

    #[test]
    fn a_killed_runs_temporary_png_is_removed_and_a_drawing_runs_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        // No process holds the first (its run was killed); the second is being drawn.
        let stale = dir.path().join(".fig.png.4000000000.tmp.png");
        std::fs::write(&stale, b"half a png").unwrap();
        let live = dir.path().join(".fig.png.4000000001.tmp.png");
        let drawing = std::fs::File::create(&live).unwrap();
        drawing.lock().unwrap();
        save(&Blank, &dir.path().join("fig")).unwrap();
        assert!(!stale.exists());
        assert!(live.exists());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".fig.png.4000000001.tmp.png",
                "fig.md",
                "fig.png",
                "fig.svg"
            ]
        );
    }
}
