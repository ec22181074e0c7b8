//! The command line: every bad value is refused with the flag's name and the
//! range it takes, before anything starts.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
seawall demo: a failing upstream, with and without seawall

USAGE:
    cargo run --example demo -- [--duration SECS] [--concurrency N] [--seed N] [--plot FILE.svg]

OPTIONS:
    --duration SECS    length of each of the two runs, in seconds (default 15, 5 to 300)
    --concurrency N    callers calling at once (default 8, 1 to 256)
    --seed N           seed of the injected faults (default 7, 0 to 18446744073709551615)
    --plot FILE.svg    also draw both runs on one timeline, as an SVG picture
    -h, --help         print this help";

/// The shortest and longest run, in seconds.
pub const DURATION_SECS: std::ops::RangeInclusive<u64> = 5..=300;
/// The fewest and most callers.
pub const CONCURRENCY: std::ops::RangeInclusive<usize> = 1..=256;

#[derive(Debug)]
pub struct Args {
    pub duration: Duration,
    pub concurrency: usize,
    pub seed: u64,
    pub plot: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(15),
            concurrency: 8,
            seed: 7,
            plot: None,
        }
    }
}

/// The arguments after the program's name; `Ok(None)` asks for the help.
pub fn parse(words: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let mut value = |name: &str, range: &str| {
            words
                .next()
                .ok_or_else(|| format!("{name} needs a value ({range})"))
        };
        match word.as_str() {
            "-h" | "--help" => return Ok(None),
            "--duration" => {
                let range = "whole seconds from 5 to 300";
                let text = value("--duration", range)?;
                let secs = whole(&text)
                    .filter(|secs| DURATION_SECS.contains(secs))
                    .ok_or_else(|| format!("--duration takes {range}, not {text:?}"))?;
                args.duration = Duration::from_secs(secs);
            }
            "--concurrency" => {
                let range = "a whole number from 1 to 256";
                let text = value("--concurrency", range)?;
                args.concurrency = whole(&text)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| CONCURRENCY.contains(n))
                    .ok_or_else(|| format!("--concurrency takes {range}, not {text:?}"))?;
            }
            "--seed" => {
                let range = "a whole number from 0 to 18446744073709551615";
                let text = value("--seed", range)?;
                args.seed =
                    whole(&text).ok_or_else(|| format!("--seed takes {range}, not {text:?}"))?;
            }
            "--plot" => {
                let range = "a file name ending in .svg";
                let text = value("--plot", range)?;
                let is_svg = text.len() > 4
                    && text
                        .get(text.len() - 4..)
                        .is_some_and(|end| end.eq_ignore_ascii_case(".svg"));
                if !is_svg {
                    return Err(format!("--plot takes {range}, not {text:?}"));
                }
                args.plot = Some(PathBuf::from(text));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}

/// A whole number written with digits only (no sign, no spaces).
fn whole(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Option<Args>, String> {
        parse(words.iter().map(|word| word.to_string()))
    }

    #[test]
    fn no_arguments_are_the_defaults() {
        let args = parse_words(&[]).unwrap().unwrap();
        assert_eq!(args.duration, Duration::from_secs(15));
        assert_eq!(args.concurrency, 8);
        assert_eq!(args.seed, 7);
        assert!(args.plot.is_none());
    }

    #[test]
    fn the_edges_of_every_range_are_taken() {
        let args = parse_words(&[
            "--duration",
            "5",
            "--concurrency",
            "256",
            "--seed",
            "18446744073709551615",
            "--plot",
            "out/Run.SVG",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(args.duration, Duration::from_secs(5));
        assert_eq!(args.concurrency, 256);
        assert_eq!(args.seed, u64::MAX);
        assert_eq!(args.plot.unwrap(), PathBuf::from("out/Run.SVG"));
        let args = parse_words(&["--duration", "300", "--concurrency", "1"])
            .unwrap()
            .unwrap();
        assert_eq!(args.duration, Duration::from_secs(300));
        assert_eq!(args.concurrency, 1);
    }

    #[test]
    fn a_bad_value_names_its_flag_and_its_range() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["--duration", "4"], "--duration", "5 to 300"),
            (&["--duration", "301"], "--duration", "5 to 300"),
            (&["--duration", "-5"], "--duration", "5 to 300"),
            (&["--duration", "1.5"], "--duration", "5 to 300"),
            (
                &["--duration", "99999999999999999999999"],
                "--duration",
                "5 to 300",
            ),
            (&["--duration", ""], "--duration", "5 to 300"),
            (&["--duration"], "--duration", "5 to 300"),
            (&["--concurrency", "0"], "--concurrency", "1 to 256"),
            (&["--concurrency", "257"], "--concurrency", "1 to 256"),
            (&["--concurrency", " 8"], "--concurrency", "1 to 256"),
            (&["--concurrency", "+8"], "--concurrency", "1 to 256"),
            (&["--seed", "-1"], "--seed", "0 to 18446744073709551615"),
            (
                &["--seed", "18446744073709551616"],
                "--seed",
                "0 to 18446744073709551615",
            ),
            (&["--seed"], "--seed", "0 to 18446744073709551615"),
            (&["--plot", "out.png"], "--plot", "ending in .svg"),
            (&["--plot", ".svg"], "--plot", "ending in .svg"),
            (&["--plot", "svg"], "--plot", "ending in .svg"),
            (&["--plot", "é.sv"], "--plot", "ending in .svg"),
            (&["--plot"], "--plot", "ending in .svg"),
        ];
        for (words, flag, range) in cases {
            let err = parse_words(words).unwrap_err();
            assert!(err.contains(flag), "{words:?}: {err}");
            assert!(err.contains(range), "{words:?}: {err}");
        }
    }

    #[test]
    fn unknown_arguments_and_help() {
        assert!(parse_words(&["--durations", "5"])
            .unwrap_err()
            .contains("--durations"));
        assert!(parse_words(&["--duration", "5", "--help"])
            .unwrap()
            .is_none());
        assert!(parse_words(&["-h"]).unwrap().is_none());
    }
}
