//! `fit.md`: the effectivity and decay tables as Markdown.

use std::fmt::Write as _;

use crate::{FitOptions, Fitted};

/// The effectivity and decay tables as Markdown.
pub fn summary(fitted: &Fitted, options: &FitOptions) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Effectivity\n\nMean gain in ℓ (nats per token) from an injection step to the local acquisition maximum within {} steps; bootstrap 95 % interval over probes. \"Control\": the same gain of never-injected paragraphs' probes at this scenario's injection steps; \"net\" = effectivity − control, the part specific to the fact (probes of both groups resampled). \"At window end\": share of injections whose maximum is the window's last evaluated step, where the rise may not have ended (the window cuts it). \"First token\": net effectivity on the log-probability of the target's first token alone.\n",
        options.window
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
        "\n# Decay constants\n\nLeast-squares fit of mean retainability R against log10 t after the last injection (IQR factor {}); a = −slope ± standard error; x-intercept where the fitted R reaches 0.\n",
        options.iqr_factor
    );
    let _ = writeln!(
        md,
        "| run | scenario | kind | a | ± | R² | x-intercept log10(steps) | log10(tokens) |\n|---|---|---|---:|---:|---:|---:|---:|"
    );
    for d in &fitted.decay {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | {:.4} | {:.3} | {:.2} | {:.2} |",
            d.run_id,
            d.scenario,
            d.kind,
            d.a,
            d.a_stderr,
            d.r_squared,
            d.x_intercept_log10_steps,
            d.x_intercept_log10_tokens
        );
    }
    md
}
