//! What every stage binary does the same way: `--quiet` / `-v`, logs through `tracing` on
//! stderr, and progress bars on stderr that disappear when stderr is not a terminal (logs and
//! CI output stay clean). Numbers given on the command line or in a config file are checked
//! through [`bounds`]: one pattern for every stage.

pub mod bounds;

pub use bounds::{
    at_least, finite_f64, finite_f64_in, int_in, ordered_pair, parse, parse_from, positive,
    positive_f64, positive_steps, steps, Bounds, FloatRange, IntRange, OrderedPair, OutOfBounds,
    MAX_STEPS,
};

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::filter::LevelFilter;

/// Flatten into a stage's clap arguments with `#[command(flatten)]`.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Verbosity {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl Verbosity {
    /// Installs the stderr logger; a level in `RUST_LOG` (e.g. `debug`) overrides the flags.
    pub fn init_logging(&self) {
        let from_flags = match (self.quiet, self.verbose) {
            (true, _) => LevelFilter::ERROR,
            (false, 0) => LevelFilter::INFO,
            (false, 1) => LevelFilter::DEBUG,
            (false, _) => LevelFilter::TRACE,
        };
        let level = std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(from_flags);
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_max_level(level)
            .try_init();
    }

    /// A bar of `total` units named `unit`, hidden when quiet or when stderr is not a terminal.
    pub fn progress(&self, total: u64, unit: &str) -> ProgressBar {
        let bar = ProgressBar::new(total);
        if self.quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let template = format!(
            "{{elapsed_precise}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar
    }
}
