//! One way to check numbers, for flags and for config values alike: a number is accepted only
//! inside bounds stated where it is read, and a refusal names the flag or key, what was given
//! and what was expected.
//!
//! As a clap value parser (clap's message then names the flag and the value given):
//!
//! ```
//! use factlab_cli::{finite_f64_in, int_in, ordered_pair, positive};
//! use std::ops::Bound::{Excluded, Included};
//!
//! #[derive(clap::Parser)]
//! struct Cli {
//!     /// Steps after an injection; at most a million.
//!     #[arg(long, default_value_t = 50, value_parser = positive::<u32>().at_most(1_000_000))]
//!     window: u32,
//!     /// A share above 0 and at most 1.
//!     #[arg(long, default_value_t = 1.0, value_parser = finite_f64_in((Excluded(0.0), Included(1.0))))]
//!     share: f64,
//!     /// LOW,HIGH with LOW ≤ HIGH.
//!     #[arg(long, default_value = "270,420", value_parser = ordered_pair(int_in(1..=100_000usize)))]
//!     words: [usize; 2],
//! }
//! # use clap::Parser;
//! let error = Cli::try_parse_from(["x", "--window", "0"]).err().unwrap().to_string();
//! assert!(error.contains("'0' for '--window <WINDOW>'"), "{error}");
//! assert!(error.contains("expected a whole number from 1 to 1000000"), "{error}");
//! let error = Cli::try_parse_from(["x", "--words", "420,270"]).err().unwrap().to_string();
//! assert!(error.contains("LOW ≤ HIGH"), "{error}");
//! assert!(Cli::try_parse_from(["x", "--share", "NaN"]).is_err());
//! ```
//!
//! For a value read from a file or built in code, [`Bounds::check`] gives the same message under
//! the key's name:
//!
//! ```
//! use factlab_cli::{positive, Bounds};
//! let error = positive::<u32>().at_most(1000).check("schedule.toml: `interval`", 0).unwrap_err();
//! assert_eq!(error.to_string(), "schedule.toml: `interval` is 0; expected a whole number from 1 to 1000");
//! ```
//!
//! Every integer range has an upper bound: [`positive`] and [`at_least`] end at the type's
//! maximum, so give a sane `.at_most(…)` wherever a count drives a loop or an allocation.

use std::ffi::OsStr;
use std::fmt::{self, Display};
use std::ops::{Bound, RangeBounds};
use std::str::FromStr;

use clap::builder::TypedValueParser;

/// The most steps a run, an interval, a window or a step number may count: far beyond any
/// experiment here (the papers' runs are under a million steps), and small enough that a sum of
/// up to 42 such numbers still fits a `u32`. Products (exposures × interval) still need
/// `checked_mul`.
pub const MAX_STEPS: u32 = 100_000_000;

/// A step count or step number from 0 to [`MAX_STEPS`].
pub fn steps() -> IntRange<u32> {
    int_in(0..=MAX_STEPS)
}

/// A step count of at least 1 and at most [`MAX_STEPS`] (an interval, a window, a run length).
pub fn positive_steps() -> IntRange<u32> {
    int_in(1..=MAX_STEPS)
}

/// A refusal: names what was checked, what it was and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfBounds(String);

impl Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutOfBounds {}

/// What the bounds of a number share: parse text, check a value, say what is expected.
pub trait Bounds: Clone + Send + Sync + 'static {
    type Value: Copy + PartialOrd + Display + Send + Sync + 'static;

    /// `Ok` when `value` is inside the bounds.
    fn contains(&self, value: Self::Value) -> bool;

    /// What is expected, e.g. "a whole number from 1 to 100".
    fn expected(&self) -> String;

    /// Parses `text` (surrounding spaces allowed) and checks it; the error says what is expected.
    fn parse_str(&self, text: &str) -> Result<Self::Value, String>;

    /// Checks a value read elsewhere (a config file, a library option): the error reads
    /// "NAME is VALUE; expected …".
    fn check(&self, name: &str, value: Self::Value) -> Result<Self::Value, OutOfBounds> {
        if self.contains(value) {
            Ok(value)
        } else {
            Err(OutOfBounds(format!(
                "{name} is {value}; expected {}",
                self.expected()
            )))
        }
    }
}

/// Integer types the bounds work with.
pub trait Int: Copy + Ord + Display + FromStr + Send + Sync + 'static {
    const MIN: Self;
    const MAX: Self;
    const ONE: Self;
    /// `self + 1`, or `self` at the type's maximum.
    fn saturating_next(self) -> Self;
    /// `self - 1`, or `self` at the type's minimum.
    fn saturating_prev(self) -> Self;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            const ONE: Self = 1;
            fn saturating_next(self) -> Self {
                self.saturating_add(1)
            }
            fn saturating_prev(self) -> Self {
                self.saturating_sub(1)
            }
        }
    )*};
}
int!(u8, u16, u32, u64, usize, i32, i64);

/// An integer from `low` to `high`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntRange<T> {
    low: T,
    high: T,
}

/// An integer in `range` (`1..=100`, `0..10`, `5..`).
pub fn int_in<T: Int>(range: impl RangeBounds<T>) -> IntRange<T> {
    let low = match range.start_bound() {
        Bound::Included(&v) => v,
        Bound::Excluded(&v) => v.saturating_next(),
        Bound::Unbounded => T::MIN,
    };
    let high = match range.end_bound() {
        Bound::Included(&v) => v,
        Bound::Excluded(&v) => v.saturating_prev(),
        Bound::Unbounded => T::MAX,
    };
    IntRange { low, high }
}

/// A count of at least 1 (0 would do nothing, or divide by zero). Add `.at_most(…)`.
pub fn positive<T: Int>() -> IntRange<T> {
    int_in(T::ONE..)
}

/// An integer of at least `low`. Add `.at_most(…)`.
pub fn at_least<T: Int>(low: T) -> IntRange<T> {
    int_in(low..)
}

impl<T: Int> IntRange<T> {
    /// The same range with its upper end lowered to `high`.
    pub fn at_most(self, high: T) -> Self {
        IntRange {
            high: self.high.min(high),
            ..self
        }
    }

    pub fn low(&self) -> T {
        self.low
    }

    pub fn high(&self) -> T {
        self.high
    }
}

impl<T: Int> Bounds for IntRange<T> {
    type Value = T;

    fn contains(&self, value: T) -> bool {
        self.low <= value && value <= self.high
    }

    fn expected(&self) -> String {
        match (self.low > T::MIN, self.high < T::MAX) {
            (true, true) => format!("a whole number from {} to {}", self.low, self.high),
            (true, false) => format!("a whole number of at least {}", self.low),
            (false, true) => format!("a whole number of at most {}", self.high),
            (false, false) => "a whole number".to_string(),
        }
    }

    fn parse_str(&self, text: &str) -> Result<T, String> {
        let text = text.trim();
        let text = text.strip_prefix('+').unwrap_or(text);
        match text.parse::<T>() {
            Ok(value) if self.contains(value) => Ok(value),
            _ => Err(format!("expected {}", self.expected())),
        }
    }
}

/// A finite `f64` between two bounds, each included, excluded or absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatRange {
    low: Bound<f64>,
    high: Bound<f64>,
}

/// A finite number in `range`: `0.0..=1.0`, `0.0..1.0`, `0.0..`, `..`, or
/// `(Bound::Excluded(0.0), Bound::Included(1.0))` for a share above 0 and at most 1. NaN and
/// ±inf are always refused.
pub fn finite_f64_in(range: impl RangeBounds<f64>) -> FloatRange {
    FloatRange {
        low: range.start_bound().cloned(),
        high: range.end_bound().cloned(),
    }
}

/// Any finite number (no NaN, no ±inf).
pub fn finite_f64() -> FloatRange {
    finite_f64_in(..)
}

/// A finite number above 0 (a rate, a penalty, a size).
pub fn positive_f64() -> FloatRange {
    finite_f64_in((Bound::Excluded(0.0), Bound::Unbounded))
}

impl Bounds for FloatRange {
    type Value = f64;

    fn contains(&self, value: f64) -> bool {
        value.is_finite()
            && match self.low {
                Bound::Included(low) => value >= low,
                Bound::Excluded(low) => value > low,
                Bound::Unbounded => true,
            }
            && match self.high {
                Bound::Included(high) => value <= high,
                Bound::Excluded(high) => value < high,
                Bound::Unbounded => true,
            }
    }

    fn expected(&self) -> String {
        if let (Bound::Included(low), Bound::Included(high)) = (self.low, self.high) {
            return format!("a finite number from {low} to {high}");
        }
        let mut parts = Vec::new();
        match self.low {
            Bound::Included(low) => parts.push(format!("at least {low}")),
            Bound::Excluded(low) => parts.push(format!("above {low}")),
            Bound::Unbounded => {}
        }
        match self.high {
            Bound::Included(high) => parts.push(format!("at most {high}")),
            Bound::Excluded(high) => parts.push(format!("below {high}")),
            Bound::Unbounded => {}
        }
        if parts.is_empty() {
            "a finite number".to_string()
        } else {
            format!("a finite number {}", parts.join(" and "))
        }
    }

    fn parse_str(&self, text: &str) -> Result<f64, String> {
        match text.trim().parse::<f64>() {
            Ok(value) if self.contains(value) => Ok(value),
            _ => Err(format!("expected {}", self.expected())),
        }
    }
}

/// `LOW,HIGH`: two numbers inside `each`'s bounds with LOW ≤ HIGH, as `[LOW, HIGH]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedPair<B> {
    each: B,
}

/// `LOW,HIGH` with both inside `each` and LOW ≤ HIGH (a range given as two numbers).
pub fn ordered_pair<B: Bounds>(each: B) -> OrderedPair<B> {
    OrderedPair { each }
}

impl<B: Bounds> OrderedPair<B> {
    pub fn expected(&self) -> String {
        format!("LOW,HIGH with LOW ≤ HIGH, each {}", self.each.expected())
    }

    pub fn parse_str(&self, text: &str) -> Result<[B::Value; 2], String> {
        let fail = || format!("expected {}", self.expected());
        let (low, high) = text.split_once(',').ok_or_else(fail)?;
        let low = self.each.parse_str(low).map_err(|_| fail())?;
        let high = self.each.parse_str(high).map_err(|_| fail())?;
        if low > high {
            return Err(format!("{low} > {high}; {}", fail()));
        }
        Ok([low, high])
    }

    /// Checks a pair read elsewhere; the error reads "NAME is [LOW, HIGH]; expected …".
    pub fn check(&self, name: &str, pair: [B::Value; 2]) -> Result<[B::Value; 2], OutOfBounds> {
        let [low, high] = pair;
        if self.each.contains(low) && self.each.contains(high) && low <= high {
            Ok(pair)
        } else {
            Err(OutOfBounds(format!(
                "{name} is [{low}, {high}]; expected {}",
                self.expected()
            )))
        }
    }
}

/// `P::parse()`, except that a negative number after a flag is that flag's value in every
/// subcommand: `--iqr-factor -3` reaches the flag's bounds, whose message names it, instead of
/// failing as an unknown flag `-3`. Use it in every stage's `main` in place of `Cli::parse()`.
pub fn parse<P: clap::Parser>() -> P {
    parse_from(std::env::args_os())
}

/// [`parse`] from the given arguments (the first is the program's name).
pub fn parse_from<P, I, T>(args: I) -> P
where
    P: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    fn negative_numbers(command: clap::Command) -> clap::Command {
        command
            .allow_negative_numbers(true)
            .mut_subcommands(negative_numbers)
    }
    let mut command = negative_numbers(P::command());
    let parsed = command
        .try_get_matches_from_mut(args)
        .and_then(|mut matches| P::from_arg_matches_mut(&mut matches));
    match parsed {
        Ok(parsed) => parsed,
        Err(error) => error.format(&mut command).exit(),
    }
}

/// Parses through clap's own closure parser, so the message reads like clap's:
/// "invalid value 'V' for '--flag <FLAG>': expected …".
macro_rules! value_parser {
    ($ty:ty, $value:ty, [$($generics:tt)*]) => {
        impl<$($generics)*> TypedValueParser for $ty {
            type Value = $value;

            fn parse_ref(
                &self,
                cmd: &clap::Command,
                arg: Option<&clap::Arg>,
                value: &OsStr,
            ) -> Result<Self::Value, clap::Error> {
                let this = self.clone();
                (move |text: &str| this.parse_str(text)).parse_ref(cmd, arg, value)
            }
        }
    };
}
value_parser!(IntRange<T>, T, [T: Int]);
value_parser!(FloatRange, f64, []);
value_parser!(OrderedPair<B>, [B::Value; 2], [B: Bounds]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_inside_their_bounds() {
        let window = positive::<u32>().at_most(1_000_000);
        assert_eq!(window.parse_str("50"), Ok(50));
        assert_eq!(window.parse_str(" +7 "), Ok(7));
        for bad in [
            "0",
            "1000001",
            "4294967295",
            "4294967296",
            "-3",
            "1.5",
            "",
            "x",
        ] {
            assert_eq!(
                window.parse_str(bad),
                Err("expected a whole number from 1 to 1000000".into()),
                "{bad}"
            );
        }
        assert_eq!(at_least(2u64).expected(), "a whole number of at least 2");
        assert_eq!(int_in(..=9u8).expected(), "a whole number of at most 9");
        assert_eq!(int_in(0..10u32).high(), 9);
        assert_eq!(int_in((Bound::Excluded(0u32), Bound::Unbounded)).low(), 1);
        assert_eq!(
            int_in(1..=3usize)
                .check("`count`", 4)
                .unwrap_err()
                .to_string(),
            "`count` is 4; expected a whole number from 1 to 3"
        );
    }

    #[test]
    fn floats_are_finite_and_inside_their_bounds() {
        let share = finite_f64_in((Bound::Excluded(0.0), Bound::Included(1.0)));
        assert_eq!(share.parse_str("1"), Ok(1.0));
        assert_eq!(share.parse_str("0.25"), Ok(0.25));
        for bad in ["0", "1.5", "NaN", "nan", "inf", "-inf", "x"] {
            assert_eq!(
                share.parse_str(bad),
                Err("expected a finite number above 0 and at most 1".into()),
                "{bad}"
            );
        }
        assert_eq!(
            finite_f64().parse_str("inf"),
            Err("expected a finite number".into())
        );
        assert_eq!(finite_f64().parse_str("-1e300"), Ok(-1e300));
        assert_eq!(
            finite_f64_in(0.0..1.0).expected(),
            "a finite number at least 0 and below 1"
        );
        assert!(positive_f64().check("--lr", f64::NAN).is_err());
        assert!(positive_f64().check("--lr", 0.0).is_err());
        assert_eq!(positive_f64().check("--lr", 1e-3), Ok(1e-3));
    }

    #[test]
    fn negative_numbers_reach_the_bounds_in_subcommands() {
        #[derive(clap::Parser, Debug)]
        struct Cli {
            #[command(subcommand)]
            command: Sub,
        }
        #[derive(clap::Subcommand, Debug)]
        enum Sub {
            Fit {
                #[arg(long, value_parser = finite_f64_in(0.0..))]
                iqr_factor: f64,
                #[arg(long, value_parser = finite_f64())]
                offset: f64,
            },
        }
        let Cli {
            command: Sub::Fit { offset, .. },
        } = parse_from::<Cli, _, _>(["x", "fit", "--iqr-factor", "2", "--offset", "-3"]);
        assert_eq!(offset, -3.0);
    }

    #[test]
    fn pairs_are_ordered() {
        let words = ordered_pair(int_in(1..=1000usize));
        assert_eq!(words.parse_str("270,420"), Ok([270, 420]));
        assert_eq!(words.parse_str("5, 5"), Ok([5, 5]));
        let inverted = words.parse_str("420,270").unwrap_err();
        assert!(
            inverted.starts_with("420 > 270; expected LOW,HIGH with LOW ≤ HIGH"),
            "{inverted}"
        );
        for bad in ["270", "0,5", "1,1001", "1,2,3", "a,b", ""] {
            assert!(words.parse_str(bad).is_err(), "{bad}");
        }
        assert!(words.check("`words`", [3, 2]).is_err());
        assert_eq!(words.check("`words`", [2, 3]), Ok([2, 3]));
    }

    #[test]
    fn clap_names_the_flag_and_the_value() {
        use clap::Parser;
        #[derive(Parser, Debug)]
        struct Cli {
            #[arg(long, default_value_t = 50, value_parser = positive::<u32>().at_most(100))]
            window: u32,
            #[arg(long, default_value_t = 1.5, value_parser = finite_f64_in(0.0..))]
            iqr_factor: f64,
            #[arg(long, default_value = "1,2", value_parser = ordered_pair(positive::<usize>()))]
            words: [usize; 2],
            #[arg(long, value_parser = positive::<usize>())]
            limit: Option<usize>,
        }
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (cli.window, cli.iqr_factor, cli.words, cli.limit),
            (50, 1.5, [1, 2], None)
        );
        let cli = Cli::try_parse_from(["x", "--limit", "3", "--words", "4,9"]).unwrap();
        assert_eq!((cli.limit, cli.words), (Some(3), [4, 9]));
        for (args, flag) in [
            (vec!["x", "--window", "0"], "'0' for '--window <WINDOW>'"),
            (
                vec!["x", "--window", "4294967295"],
                "'4294967295' for '--window <WINDOW>'",
            ),
            (
                vec!["x", "--iqr-factor=-3"],
                "'-3' for '--iqr-factor <IQR_FACTOR>'",
            ),
            (
                vec!["x", "--iqr-factor", "NaN"],
                "'NaN' for '--iqr-factor <IQR_FACTOR>'",
            ),
            (vec!["x", "--words", "9,4"], "'9,4' for '--words <WORDS>'"),
            (vec!["x", "--limit", "0"], "'0' for '--limit <LIMIT>'"),
        ] {
            let error = Cli::try_parse_from(args).unwrap_err().to_string();
            assert!(error.contains(flag), "{error}");
            assert!(error.contains("expected"), "{error}");
        }
    }
}
