//! `cargo xtask fuzz [--seconds N | --runs N] [TARGET...]`: runs the cargo-fuzz targets of
//! `fuzz/` (every decoder, the engine session and the engine's request routing) on the nightly toolchain, each for N seconds
//! (or N inputs), starting from
//! the committed seeds (`fuzz/seeds/<target>`, read only) and the local corpus
//! (`fuzz/corpus/<target>`, not committed), and prints how many inputs each one ran.
//!
//! cargo-fuzz is installed (`cargo install cargo-fuzz --locked`) when missing. A crash fails
//! the command; its input is in `fuzz/artifacts/<target>/`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Every target, in the order they run.
pub(crate) const TARGETS: &[&str] = &[
    "engine_packet",
    "polling_payload",
    "websocket_frames",
    "socket_packet",
    "msgpack_packet",
    "binary_reassembly",
    "engine_session",
    "engine_handshake",
    "eio3_payload",
];

/// The toolchain cargo-fuzz needs (sanitizer flags).
const TOOLCHAIN: &str = "nightly";

/// Options of `cargo xtask fuzz`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Seconds per target.
    pub(crate) seconds: u64,
    /// Inputs per target instead of a time (`--runs`).
    pub(crate) runs: Option<u64>,
    /// The targets to run (every one when none is named).
    pub(crate) targets: Vec<String>,
}

impl Options {
    /// Parses the arguments after `fuzz`.
    pub(crate) fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options { seconds: 60, runs: None, targets: Vec::new() };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    let value = args.next().context("--seconds needs a number")?;
                    options.seconds = value.parse().ok().filter(|s| *s > 0).with_context(|| {
                        format!("--seconds: `{value}` is not a positive number")
                    })?;
                }
                "--runs" => {
                    let value = args.next().context("--runs needs a number")?;
                    options.runs =
                        Some(value.parse().ok().filter(|r| *r > 0).with_context(|| {
                            format!("--runs: `{value}` is not a positive number")
                        })?);
                }
                target if TARGETS.contains(&target) => options.targets.push(target.to_owned()),
                other => bail!(
                    "unknown fuzz target or option `{other}` (targets: {})",
                    TARGETS.join(", ")
                ),
            }
        }
        if options.targets.is_empty() {
            options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        }
        Ok(options)
    }
}

/// Runs the targets and prints a table of executions; fails on the first crash.
pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz()?;
    let mut rows = Vec::new();
    for target in &options.targets {
        let runs = run_target(&fuzz_dir, target, options)?;
        rows.push((target.clone(), runs));
    }
    match options.runs {
        Some(runs) => println!("\nfuzz: {runs} inputs per target"),
        None => println!("\nfuzz: {} s per target", options.seconds),
    }
    for (target, (runs, seconds)) in &rows {
        println!("  {target:<20} {runs:>12} runs in {seconds} s, no crash");
    }
    Ok(())
}

/// The short run of every target that `cargo xtask test` makes.
pub(crate) fn smoke(root: &Path) -> Result<()> {
    let targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    run(root, &Options { seconds: SMOKE_SECONDS, runs: None, targets })
}

/// Seconds per target of the test command's smoke run.
const SMOKE_SECONDS: u64 = 5;

/// Installs cargo-fuzz unless `cargo fuzz` already answers.
fn ensure_cargo_fuzz() -> Result<()> {
    let answers = Command::new("cargo")
        .args([&format!("+{TOOLCHAIN}"), "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        cmd::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Fuzzes one target for `options.seconds` (or `options.runs` inputs); how many inputs it
/// ran, in how many seconds.
fn run_target(fuzz_dir: &Path, target: &str, options: &Options) -> Result<(u64, u64)> {
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let mut fuzz = Command::new("cargo");
    fuzz.current_dir(fuzz_dir)
        .args([&format!("+{TOOLCHAIN}"), "fuzz", "run", "-O", target])
        .arg(&corpus);
    let seeds = fuzz_dir.join("seeds").join(target);
    if seeds.is_dir() {
        fuzz.arg(&seeds);
    }
    fuzz.arg("--");
    match options.runs {
        Some(runs) => fuzz.arg(format!("-runs={runs}")),
        None => fuzz.arg(format!("-max_total_time={}", options.seconds)),
    };
    println!("$ {}", cmd::display(&fuzz));
    let start = Instant::now();
    let out = fuzz
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", cmd::display(&fuzz)))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz target `{target}` failed after {:.0} s (input in fuzz/artifacts/{target}/):\n{}",
            start.elapsed().as_secs_f64(),
            tail.join("\n")
        );
    }
    done_line(&log).with_context(|| format!("`{target}` printed no `Done N runs` line"))
}

/// libFuzzer's closing `Done N runs in S second(s)`.
fn done_line(log: &str) -> Option<(u64, u64)> {
    log.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("Done ")?;
        let (runs, rest) = rest.split_once(" runs in ")?;
        let seconds = rest.split_whitespace().next()?;
        Some((runs.parse().ok()?, seconds.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let all = Options::parse(&[]).unwrap();
        assert_eq!(all.seconds, 60);
        assert_eq!(all.targets.len(), TARGETS.len());
        let some = Options::parse(&args(&["--seconds", "5", "engine_packet"])).unwrap();
        assert_eq!(
            some,
            Options { seconds: 5, runs: None, targets: vec!["engine_packet".to_owned()] }
        );
        let runs = Options::parse(&args(&["--runs", "1000"])).unwrap();
        assert_eq!(runs.runs, Some(1000));
        assert!(Options::parse(&args(&["--runs", "0"])).is_err());
        assert!(Options::parse(&args(&["--seconds"])).is_err());
        assert!(Options::parse(&args(&["--seconds", "0"])).is_err());
        assert!(Options::parse(&args(&["--seconds", "x"])).is_err());
        assert!(Options::parse(&args(&["nope"])).is_err());
    }

    #[test]
    fn reads_the_done_line() {
        let log = "#2\tINITED\n#1000\tpulse\nDone 963539 runs in 16 second(s)\n";
        assert_eq!(done_line(log), Some((963_539, 16)));
        assert_eq!(done_line("crash\n"), None);
    }

    #[test]
    fn every_target_has_a_source_file() {
        let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
        for target in TARGETS {
            assert!(fuzz_dir.join(format!("{target}.rs")).is_file(), "{target}");
        }
    }
}
