//! Chang et al. 2024 Figures 2, 4 and 5 from `fit`'s tables, and what the figures share.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use factlab_artifacts::{DecayRow, ProbeKind, RetentionRow, TrajectoryRow};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::canvas::{drawing, Figure, FONT, KIND_COLOURS, RUN_COLOURS};

pub(crate) const KIND_SHORT: [&str; 3] = ["mem", "sem", "comp"];

fn kind_index(kind: &str) -> Option<usize> {
    ProbeKind::ALL.iter().position(|k| k.as_str() == kind)
}

/// The paper's scenario order first, then any other schedule group alphabetically.
pub fn scenario_order<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut found: Vec<String> = names.map(str::to_string).collect();
    found.sort();
    found.dedup();
    let rank = |s: &str| {
        ["paraphrase", "duplicate", "once"]
            .iter()
            .position(|p| *p == s)
            .unwrap_or(3)
    };
    found.sort_by_key(|s| rank(s));
    found
}

pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font((FONT, 13))
        .draw()
        .map_err(drawing)
}

/// A decay fit drawn dashed between two points, with its legend entry.
fn fitted_line<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    line: [(f64, f64); 2],
    colour: RGBColor,
    label: String,
) -> Result<()> {
    chart
        .draw_series(DashedLineSeries::new(line, 6, 3, colour.stroke_width(2)))
        .map_err(drawing)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2)));
    Ok(())
}

// ------------------------------------------------------------------------------------ Fig. 2

/// Mean Δℓ against step, one panel per scenario, injection steps as dotted lines, and in every
/// panel the never-injected control's Δℓ (rows of scenario [`TrajectoryRow::CONTROL_SCENARIO`],
/// its kinds pooled) dashed grey: the rise every probe shares while training goes on.
pub struct Fig2 {
    pub run: String,
    pub rows: Vec<TrajectoryRow>,
    pub injection_steps: BTreeMap<String, Vec<u32>>,
}

/// Neutral, so the control reads as a reference and not as a fourth kind.
const CONTROL_GREY: RGBColor = RGBColor(110, 110, 110);

/// The mean over every probe of `cells` (a kind's mean Δℓ and its probes).
fn pooled(cells: impl Iterator<Item = (f64, u32)>) -> f64 {
    let (sum, probes) = cells.fold((0.0, 0u32), |(sum, probes), (mean, n)| {
        (sum + mean * f64::from(n), probes + n)
    });
    sum / f64::from(probes)
}

/// (mean Δℓ, probes) of each kind, in [`ProbeKind::ALL`] order, per (panel index, scenario, step).
type Cells<'a> = BTreeMap<(usize, &'a str, u32), [Option<(f64, u32)>; 3]>;

impl Fig2 {
    /// The panels: every scenario but the control.
    fn scenarios(&self) -> Vec<String> {
        scenario_order(
            self.rows
                .iter()
                .map(|r| r.scenario.as_str())
                .filter(|s| *s != TrajectoryRow::CONTROL_SCENARIO),
        )
    }

    /// Every row's cell, the scenarios in panel order and the control last.
    fn cells(&self) -> Cells<'_> {
        let mut order = self.scenarios();
        order.push(TrajectoryRow::CONTROL_SCENARIO.to_string());
        let mut cells = Cells::new();
        for r in &self.rows {
            let (Some(s), Some(k)) = (
                order.iter().position(|s| *s == r.scenario),
                kind_index(&r.kind),
            ) else {
                continue;
            };
            cells.entry((s, &r.scenario, r.step)).or_default()[k] = Some((r.mean_delta, r.probes));
        }
        cells
    }

    /// The control's Δℓ at each step, its kinds pooled: the dashed grey line.
    fn control(&self) -> Vec<(f64, f64)> {
        self.cells()
            .into_iter()
            .filter(|((_, scenario, _), _)| *scenario == TrajectoryRow::CONTROL_SCENARIO)
            .map(|((_, _, step), kinds)| (step as f64, pooled(kinds.into_iter().flatten())))
            .collect()
    }
}

impl Figure for Fig2 {
    fn size(&self) -> (u32, u32) {
        (900, 260 * self.scenarios().len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let scenarios = self.scenarios();
        let control = self.control();
        let last_step = self.rows.iter().map(|r| r.step).max().unwrap_or(1) as f64;
        let low = self.rows.iter().map(|r| r.mean_delta).fold(0.0, f64::min);
        let high = self.rows.iter().map(|r| r.mean_delta).fold(0.0, f64::max);
        let (low, high) = (
            low - 0.05 * (high - low).max(1e-3),
            high + 0.1 * (high - low).max(1e-3),
        );
        for (part, scenario) in area
            .split_evenly((scenarios.len(), 1))
            .iter()
            .zip(&scenarios)
        {
            let mut chart = ChartBuilder::on(part)
                .caption(format!("{scenario} ({})", self.run), (FONT, 17))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(55)
                .build_cartesian_2d(0.0..last_step, low..high)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .x_desc("step")
                .y_desc("mean Δℓ")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(drawing)?;
            for &step in self.injection_steps.get(scenario).into_iter().flatten() {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(step as f64, low), (step as f64, high)],
                        4,
                        4,
                        BLACK.mix(0.45).stroke_width(1),
                    ))
                    .map_err(drawing)?;
            }
            for (k, kind) in ProbeKind::ALL.iter().enumerate() {
                let colour = KIND_COLOURS[k];
                let points: Vec<(f64, f64)> = self
                    .rows
                    .iter()
                    .filter(|r| &r.scenario == scenario && r.kind == kind.as_str())
                    .map(|r| (r.step as f64, r.mean_delta))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                    .map_err(drawing)?
                    .label(kind.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2))
                    });
            }
            if !control.is_empty() {
                let style = CONTROL_GREY.stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(control.clone(), 7, 4, style))
                    .map_err(drawing)?
                    .label("control (never injected)")
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (5, 0)], style)
                            + PathElement::new(vec![(9, 0), (14, 0)], style)
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut md = format!(
            "# Figure 2: mean Δℓ = ℓ(step) − ℓ(first evaluation), run `{}`\n\nScenario `{}`: the probes of never-injected paragraphs, the same in every panel; its `all kinds` column is the dashed grey line.\n\n| scenario | step | memorization | semantic | composition | all kinds |\n|---|---:|---:|---:|---:|---:|\n",
            self.run,
            TrajectoryRow::CONTROL_SCENARIO
        );
        for ((_, scenario, step), kinds) in self.cells() {
            let shown: Vec<String> = kinds
                .iter()
                .map(|v| v.map_or("–".into(), |(v, _)| format!("{v:.4}")))
                .collect();
            let all = pooled(kinds.into_iter().flatten());
            let _ = writeln!(
                md,
                "| {scenario} | {step} | {} | {all:.4} |",
                shown.join(" | ")
            );
        }
        md
    }
}

// ------------------------------------------------------------------------------- Fig. 4 and 5

/// Mean retainability against steps (log axis) with the fitted lines, one panel per scenario.
pub struct Fig4 {
    pub run: String,
    pub retention: Vec<RetentionRow>,
    pub decay: Vec<DecayRow>,
}

fn decay_for<'a>(
    decay: &'a [DecayRow],
    run: &str,
    scenario: &str,
    kind: &str,
) -> Option<&'a DecayRow> {
    decay
        .iter()
        .find(|d| d.run_id == run && d.scenario == scenario && d.kind == kind)
}

fn r_range<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (low, high) = values.fold((0.0f64, 1.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    (low - 0.05, high + 0.1)
}

impl Figure for Fig4 {
    fn size(&self) -> (u32, u32) {
        let scenarios = scenario_order(self.retention.iter().map(|r| r.scenario.as_str()));
        (480 * scenarios.len().max(1) as u32, 420)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let scenarios = scenario_order(self.retention.iter().map(|r| r.scenario.as_str()));
        let last_t = self
            .retention
            .iter()
            .map(|r| r.t)
            .max()
            .unwrap_or(10)
            .max(10) as f64;
        let (low, high) = r_range(self.retention.iter().map(|r| &r.mean));
        for (part, scenario) in area
            .split_evenly((1, scenarios.len()))
            .iter()
            .zip(&scenarios)
        {
            let mut chart = ChartBuilder::on(part)
                .caption(format!("{scenario} ({})", self.run), (FONT, 17))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d((1.0..last_t).log_scale(), low..high)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .x_desc("steps after the last acquisition maximum (log)")
                .y_desc("mean retainability R")
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(drawing)?;
            for (k, kind) in ProbeKind::ALL.iter().enumerate() {
                let colour = KIND_COLOURS[k];
                let points = self
                    .retention
                    .iter()
                    .filter(|r| &r.scenario == scenario && r.kind == kind.as_str() && r.t >= 1)
                    .map(|r| Circle::new((r.t as f64, r.mean), 2, colour.mix(0.6).filled()));
                chart.draw_series(points).map_err(drawing)?;
                if let Some(fit) = decay_for(&self.decay, &self.run, scenario, kind.as_str()) {
                    let line = [1.0, last_t].map(|t| (t, fit.intercept - fit.a * t.log10()));
                    let label = format!("{} a = {:.3}", kind.as_str(), fit.a);
                    fitted_line(&mut chart, line, colour, label)?;
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut md = format!(
            "# Figure 4: retainability and decay constants, run `{}`\n\n| scenario | kind | a | ± | R² | x-intercept log10(steps) | points |\n|---|---|---:|---:|---:|---:|---:|\n",
            self.run
        );
        for scenario in scenario_order(self.decay.iter().map(|d| d.scenario.as_str())) {
            for kind in ProbeKind::ALL {
                if let Some(d) = decay_for(&self.decay, &self.run, &scenario, kind.as_str()) {
                    let _ = writeln!(
                        md,
                        "| {scenario} | {} | {:.4} | {:.4} | {:.3} | {:.2} | {} |",
                        d.kind, d.a, d.a_stderr, d.r_squared, d.x_intercept_log10_steps, d.points
                    );
                }
            }
        }
        md
    }
}

/// Retainability against tokens for runs of different batch size, fits extended to where they
/// reach R = 0; one panel per probe kind.
pub struct Fig5 {
    pub runs: Vec<String>,
    pub scenario: String,
    pub retention: Vec<RetentionRow>,
    pub decay: Vec<DecayRow>,
}

impl Fig5 {
    fn tokens_per_step(&self, run: &str) -> f64 {
        self.decay
            .iter()
            .find(|d| d.run_id == run)
            .map_or(1.0, |d| d.tokens_per_step)
    }
}

impl Figure for Fig5 {
    fn size(&self) -> (u32, u32) {
        (1440, 420)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let shown: Vec<&RetentionRow> = self
            .retention
            .iter()
            .filter(|r| r.scenario == self.scenario && self.runs.contains(&r.run_id) && r.t >= 1)
            .collect();
        let tokens = |r: &RetentionRow| r.t as f64 * self.tokens_per_step(&r.run_id);
        let intercepts = self
            .decay
            .iter()
            .filter(|d| d.scenario == self.scenario && self.runs.contains(&d.run_id) && d.a > 0.0)
            .map(|d| 10f64.powf(d.x_intercept_log10_tokens));
        let first = shown
            .iter()
            .map(|r| tokens(r))
            .fold(f64::INFINITY, f64::min)
            .min(1e12);
        let last = shown
            .iter()
            .map(|r| tokens(r))
            .chain(intercepts)
            .fold(10.0 * first, f64::max)
            * 2.0;
        let (low, high) = r_range(shown.iter().map(|r| &r.mean));
        let low = low.min(-0.05);
        for (part, kind) in area.split_evenly((1, 3)).iter().zip(ProbeKind::ALL) {
            let mut chart = ChartBuilder::on(part)
                .caption(format!("{} ({})", kind.as_str(), self.scenario), (FONT, 17))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d((first / 2.0..last).log_scale(), low..high)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .x_desc("tokens after the last acquisition maximum (log)")
                .y_desc("mean retainability R")
                .x_label_formatter(&|x| format!("{x:.0e}"))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(drawing)?;
            for (r, run) in self.runs.iter().enumerate() {
                let colour = RUN_COLOURS[(r * 2 + 1) % RUN_COLOURS.len()];
                let points = shown
                    .iter()
                    .filter(|row| &row.run_id == run && row.kind == kind.as_str())
                    .map(|row| Circle::new((tokens(row), row.mean), 2, colour.mix(0.6).filled()));
                chart.draw_series(points).map_err(drawing)?;
                if let Some(fit) = decay_for(&self.decay, run, &self.scenario, kind.as_str()) {
                    let start = fit.tokens_per_step;
                    let end = if fit.a > 0.0 {
                        10f64.powf(fit.x_intercept_log10_tokens)
                    } else {
                        last
                    };
                    let line = [start, end.min(last)]
                        .map(|x| (x, fit.intercept - fit.a * (x / fit.tokens_per_step).log10()));
                    let label = format!(
                        "{run}: a = {:.3}, R = 0 at 10^{:.1}",
                        fit.a, fit.x_intercept_log10_tokens
                    );
                    fitted_line(&mut chart, line, colour, label)?;
                }
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut md = format!(
            "# Figure 5: forgetting in tokens, scenario `{}`\n\n| run | kind | tokens/step | a | ± | x-intercept log10(tokens) |\n|---|---|---:|---:|---:|---:|\n",
            self.scenario
        );
        for run in &self.runs {
            for kind in ProbeKind::ALL {
                if let Some(d) = decay_for(&self.decay, run, &self.scenario, kind.as_str()) {
                    let _ = writeln!(
                        md,
                        "| {run} | {} | {} | {:.4} | {:.4} | {:.2} |",
                        d.kind, d.tokens_per_step, d.a, d.a_stderr, d.x_intercept_log10_tokens
                    );
                }
            }
        }
        md
    }
}
