//! The knowledge augmentations of Physics of LMs 3.1 §3: how many entries a person gets, whether
//! each entry draws its own templates, whether sentence order is shuffled, and whether every
//! pronoun is replaced by the full name.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, ensure, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Entries per person (K of permuteK, M of multiM; 1 for single).
    pub entries: u32,
    /// multiM: every entry draws new templates. Otherwise all entries share one draw.
    pub resample: bool,
    /// Sentence order shuffled per entry (the name moves to the new first sentence).
    pub permute: bool,
    /// Every pronoun replaced by the full name.
    pub fullname: bool,
}

impl Variant {
    /// The 16 bioS datasets of the paper's Figure 3, in its order.
    pub const PAPER: [&'static str; 16] = [
        "single",
        "single+fullname",
        "single+permute1",
        "single+permute2",
        "single+permute5",
        "single+permute1+fullname",
        "single+permute2+fullname",
        "single+permute5+fullname",
        "multi2",
        "multi5",
        "multi2+permute",
        "multi5+permute",
        "multi2+fullname",
        "multi5+fullname",
        "multi2+permute+fullname",
        "multi5+permute+fullname",
    ];
}

impl FromStr for Variant {
    type Err = anyhow::Error;

    /// `single[+permuteK][+fullname]` or `multiM[+permute][+fullname]`.
    fn from_str(text: &str) -> Result<Self> {
        let usage = || {
            format!(
                "unknown variant `{text}`; expected single[+permuteK][+fullname] or \
                 multiM[+permute][+fullname], e.g. {}",
                Variant::PAPER.join(", ")
            )
        };
        let mut parts = text.split('+');
        let base = parts.next().unwrap_or_default();
        let mut variant = if base == "single" {
            Variant {
                entries: 1,
                resample: false,
                permute: false,
                fullname: false,
            }
        } else if let Some(m) = base.strip_prefix("multi") {
            let Ok(entries) = m.parse::<u32>() else {
                bail!(usage());
            };
            Variant {
                entries,
                resample: true,
                permute: false,
                fullname: false,
            }
        } else {
            bail!(usage());
        };
        let mut seen = Vec::new();
        for part in parts {
            ensure!(!seen.contains(&part), "{}: `{part}` given twice", usage());
            seen.push(part);
            match part {
                "fullname" => variant.fullname = true,
                "permute" if variant.resample => variant.permute = true,
                _ => match part.strip_prefix("permute").map(str::parse::<u32>) {
                    Some(Ok(k)) if !variant.resample => {
                        variant.permute = true;
                        variant.entries = k;
                    }
                    _ => bail!(usage()),
                },
            }
        }
        ensure!(
            (1..=1000).contains(&variant.entries),
            "variant `{text}`: entries per person must be 1 to 1000"
        );
        let canonical = variant.to_string();
        ensure!(
            canonical == text,
            "variant `{text}`: write it as `{canonical}` (the name is a file and run name too)"
        );
        Ok(variant)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.resample {
            write!(f, "multi{}", self.entries)?;
            if self.permute {
                write!(f, "+permute")?;
            }
        } else {
            write!(f, "single")?;
            if self.permute {
                write!(f, "+permute{}", self.entries)?;
            }
        }
        if self.fullname {
            write!(f, "+fullname")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_sixteen_parse_and_print_back() {
        for name in Variant::PAPER {
            let variant: Variant = name.parse().unwrap();
            assert_eq!(variant.to_string(), name);
        }
        let v: Variant = "single+permute5+fullname".parse().unwrap();
        assert_eq!(
            (v.entries, v.resample, v.permute, v.fullname),
            (5, false, true, true)
        );
        let v: Variant = "multi2".parse().unwrap();
        assert_eq!(
            (v.entries, v.resample, v.permute, v.fullname),
            (2, true, false, false)
        );
    }

    #[test]
    fn malformed_variants_are_refused() {
        for bad in [
            "",
            "double",
            "multi",
            "multi0",
            "single+permute",
            "multi5+permute2",
            "single+fullname+fullname",
            "single+permute0",
            "multi5+fullname+permute",
            "single+fullname+permute2",
        ] {
            assert!(bad.parse::<Variant>().is_err(), "{bad} was accepted");
        }
    }
}
