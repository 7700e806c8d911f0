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
    let temporary_png = png.with_file_name(format!(
        ".{}.{}.tmp.png",
        png.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    {
        let area = BitMapBackend::new(&temporary_png, figure.size()).into_drawing_area();
        area.fill(&WHITE).map_err(drawing)?;
        figure.draw(&area)?;
        area.present().map_err(drawing)?;
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
