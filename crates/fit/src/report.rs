//! `fit.md`: the effectivity and decay tables, and the window's bias on the control, as Markdown.

use std::fmt::Write as _;

use crate::window_bias::PERMUTATIONS;
use crate::{FitOptions, Fitted, WindowBias};

/// The effectivity and decay tables, and the window's bias on the control, as Markdown.
pub fn summary(fitted: &Fitted, options: &FitOptions) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Effectivity\n\nMean gain in ℓ (nats per token) from an injection step to the local acquisition maximum within {} steps; 95 % intervals from the paragraph bootstrap (paragraphs resampled within each scenario and within the control, draws stretched by {:.3} for the smallest group's {} paragraphs; see `fit --help`). \"Control\": the same gain of never-injected paragraphs' probes at this scenario's injection steps; \"net\" = effectivity − control, the part specific to the paragraph (the paragraphs of both groups resampled). \"At window end\": share of injections whose maximum is the window's last evaluated step, where the rise may not have ended (the window cuts it). \"First token\": net effectivity on the log-probability of the target's first token alone.\n",
        options.window,
        fitted.stretch,
        fitted.smallest_stratum
    );
    let _ = writeln!(
        md,
        "| run | scenario | kind | effectivity | 95 % CI | control | net | 95 % CI | probes | control probes | at window end | first token net | 95 % CI |\n|---|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|"
    );
    for r in &fitted.effectivity {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | [{:.4}, {:.4}] | {:.4} | {:.4} | [{:.4}, {:.4}] | {} | {} | {:.0} % | {:.4} | [{:.4}, {:.4}] |",
            r.run_id,
            r.scenario,
            r.kind,
            r.mean,
            r.ci_low,
            r.ci_high,
            r.control_mean,
            r.net_mean,
            r.net_ci_low,
            r.net_ci_high,
            r.probes,
            r.control_probes,
            100.0 * r.lam_at_window_end,
            r.first_token_net_mean,
            r.first_token_net_ci_low,
            r.first_token_net_ci_high
        );
    }
    let _ = writeln!(
        md,
        "\n# Decay constants\n\nLeast-squares fit of mean retainability R against log10 t after the last injection (IQR factor {}); a = −slope, with its 95 % paragraph-bootstrap interval (the line refitted on every draw) and the least-squares standard error of the slope (the paper's ±, too narrow to judge by: its points are serially correlated means); x-intercept where the fitted R reaches 0, with its interval.\n",
        options.iqr_factor
    );
    let _ = writeln!(
        md,
        "| run | scenario | kind | a | 95 % CI | OLS s.e. | R² | x-intercept log10(steps) | 95 % CI | log10(tokens) |\n|---|---|---|---:|---|---:|---:|---:|---|---:|"
    );
    for d in &fitted.decay {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | [{:.4}, {:.4}] | {:.4} | {:.3} | {:.2} | [{:.2}, {:.2}] | {:.2} |",
            d.run_id,
            d.scenario,
            d.kind,
            d.a,
            d.a_ci_low,
            d.a_ci_high,
            d.a_stderr,
            d.r_squared,
            d.x_intercept_log10_steps,
            d.x_intercept_log10_steps_ci_low,
            d.x_intercept_log10_steps_ci_high,
            d.x_intercept_log10_tokens
        );
    }
    md.push_str(&window_bias(&fitted.window_bias, options.window));
    md
}

/// The control's pseudo-effectivity beside the rise that a maximum over noise makes alone.
fn window_bias(rows: &[WindowBias], window: u32) -> String {
    let mut md = format!(
        "\n# The window's bias on the control\n\nThe window rule takes the largest evaluation within {window} steps after an injection, so noise alone, with no trend, already gives a positive gain. \"Pseudo-effectivity\": the mean gain by that rule of never-injected paragraphs' probes from every scenario's injection steps. \"No-trend null\": the same rule on each such probe's own series with its least-squares line taken out and the residuals permuted across its evaluated steps, {PERMUTATIONS} permutations; the range holds 95 % of the permutations' means. \"Share\" = null / pseudo-effectivity, the part of the control's rise that the maximum over noise makes; the rest is the model improving on every probe. The share is an upper bound: curvature of the trend, left in the residuals, and noise correlated from step to step both make the null larger than the noise's real part.\n\n"
    );
    if rows.is_empty() {
        md.push_str("No never-injected paragraph was scored: there is no control to measure.\n");
        return md;
    }
    md.push_str("| run | kind | control probes | pseudo-effectivity | no-trend null | 95 % of permutations | share |\n|---|---|---:|---:|---:|---|---:|\n");
    for r in rows {
        let share = if r.share.is_finite() {
            format!("{:.0} %", 100.0 * r.share)
        } else {
            "–".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | {:.4} | [{:.4}, {:.4}] | {share} |",
            r.run_id,
            r.kind,
            r.probes,
            r.pseudo_effectivity,
            r.shuffled_mean,
            r.shuffled_range.0,
            r.shuffled_range.1
        );
    }
    md
}
