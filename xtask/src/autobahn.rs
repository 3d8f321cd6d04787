//! `cargo xtask autobahn`: the WebSocket conformance suite (Autobahn|Testsuite's fuzzing
//! client, from PyPI, on Python 2.7 as pyenv provides it) against the engine's WebSocket stack
//! (`crates/engine/examples/ws_echo.rs`), checked against `tests/autobahn/expected.txt`.
//!
//! The suite is installed once into `target/autobahn/site` (`pip install --target`); its
//! report goes to `target/autobahn/report` (`index.html` for a person).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The expectation file, relative to the workspace root.
const EXPECTED: &str = "tests/autobahn/expected.txt";

/// One line of the expectation file: a case (or a `prefix.*`) and its expected results.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    case: String,
    behavior: String,
    close: String,
}

/// Parses the expectation file: `case behavior close why...`, `#` comments.
pub(crate) fn parse_expected(text: &str) -> Result<Vec<Expected>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(case), Some(behavior), Some(close), Some(_why)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            bail!("{EXPECTED}:{}: expected `case behavior close why`", n + 1);
        };
        out.push(Expected { case: case.into(), behavior: behavior.into(), close: close.into() });
    }
    Ok(out)
}

/// The expected `(behavior, close)` of `case`: its line, or `OK OK`.
fn expected_for<'a>(expected: &'a [Expected], case: &str) -> (&'a str, &'a str) {
    expected
        .iter()
        .find(|e| match e.case.strip_suffix('*') {
            Some(prefix) => case.starts_with(prefix),
            None => e.case == case,
        })
        .map_or(("OK", "OK"), |e| (e.behavior.as_str(), e.close.as_str()))
}

/// The cases whose result differs from the expectation: `case: got X/Y, expected A/B`.
pub(crate) fn differences(
    expected: &[Expected],
    results: &[(String, String, String)],
) -> Vec<String> {
    results
        .iter()
        .filter_map(|(case, behavior, close)| {
            let (b, c) = expected_for(expected, case);
            (b != behavior || c != close)
                .then(|| format!("{case}: got {behavior}/{close}, expected {b}/{c}"))
        })
        .collect()
}

/// Reads the suite's `index.json` (with Python's json: xtask has no JSON dependency):
/// `(case, behavior, behaviorClose)` of every case.
fn read_report(python: &Path, path: &Path) -> Result<Vec<(String, String, String)>> {
    let script = format!(
        "import json\nfor c, v in json.load(open({path:?}))['switchboard'].items():\n    \
         print('%s %s %s' % (c, v['behavior'], v['behaviorClose']))",
        path = path.display().to_string()
    );
    let out = cmd::output(Command::new(python).args(["-c", &script]))?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_owned(), w.next()?.to_owned(), w.next()?.to_owned()))
        })
        .collect())
}

/// Python 2.7 from pyenv (`$PYENV_ROOT` or `~/.pyenv`), or `python2.7` on the path.
fn python27() -> Result<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(versions) = root.map(|r| r.join("versions")) {
        if let Ok(entries) = std::fs::read_dir(&versions) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("2.7"))
                .map(|e| e.path().join("bin/python2.7"))
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            if let Some(python) = found.pop() {
                return Ok(python);
            }
        }
    }
    if cmd::on_path("python2.7") {
        return Ok(PathBuf::from("python2.7"));
    }
    bail!(
        "Python 2.7 is needed for Autobahn|Testsuite: install it with pyenv (pyenv install 2.7.18)"
    )
}

/// Runs the suite and checks it; fails on any difference from the expectation file.
pub(crate) fn run(root: &Path) -> Result<()> {
    let expected = parse_expected(
        &std::fs::read_to_string(root.join(EXPECTED)).context("reading the expectation file")?,
    )?;
    let python = python27()?;
    let work = crate::test::target_dir(root)?.join("autobahn");
    let site = work.join("site");
    if !site.join("autobahntestsuite").is_dir() {
        cmd::run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "--target"])
                .arg(&site)
                .arg("autobahntestsuite"),
        )?;
    }
    cmd::run(cmd::cargo(root).args(["build", "-p", "switchboard-engine", "--example", "ws_echo"]))?;
    let bin = crate::test::target_dir(root)?.join("debug/examples/ws_echo");
    let echo = cmd::serve_on_free_port(&bin)?;
    let port = echo.port;
    let report = work.join("report");
    let _ = std::fs::remove_dir_all(&report);
    let spec = format!(
        "{{\"outdir\": {outdir:?}, \"servers\": [{{\"agent\": \"switchboard\", \
         \"url\": \"ws://127.0.0.1:{port}\"}}], \"cases\": [\"*\"], \
         \"exclude-cases\": [], \"exclude-agent-cases\": {{}}}}",
        outdir = report.display().to_string()
    );
    let spec_path = work.join("fuzzingclient.json");
    std::fs::create_dir_all(&work)?;
    std::fs::write(&spec_path, spec)?;
    // The suite's packages are a `--target` directory: `site.addsitedir` reads their `.pth`
    // files (zope's namespace package needs them).
    let boot = format!(
        "import site, sys; site.addsitedir({site:?}); \
         sys.argv = ['wstest', '-m', 'fuzzingclient', '-s', {spec:?}]; \
         from autobahntestsuite.wstest import run; run()",
        site = site.display().to_string(),
        spec = spec_path.display().to_string(),
    );
    cmd::run(Command::new(&python).current_dir(&work).args(["-c", &boot]))?;
    drop(echo);
    let results = read_report(&python, &report.join("index.json"))?;
    let diffs = differences(&expected, &results);
    println!(
        "autobahn: {} cases, report in {}",
        results.len(),
        report.join("index.html").display()
    );
    if !diffs.is_empty() {
        bail!("{} case(s) differ from {EXPECTED}:\n  {}", diffs.len(), diffs.join("\n  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_match_cases_and_prefixes() {
        let text = "# comment\n\n6.4.1 NON-STRICT OK fail fast\n9.3.* FAILED FAILED too big\n";
        let expected = parse_expected(text).unwrap();
        assert_eq!(expected.len(), 2);
        assert_eq!(expected_for(&expected, "6.4.1"), ("NON-STRICT", "OK"));
        assert_eq!(expected_for(&expected, "9.3.7"), ("FAILED", "FAILED"));
        assert_eq!(expected_for(&expected, "1.1.1"), ("OK", "OK"));
        let r = |c: &str, b: &str, cl: &str| (c.to_owned(), b.to_owned(), cl.to_owned());
        let results = [
            r("1.1.1", "OK", "OK"),
            r("6.4.1", "NON-STRICT", "OK"),
            r("9.3.1", "FAILED", "FAILED"),
            r("2.1", "FAILED", "OK"),
        ];
        assert_eq!(differences(&expected, &results), ["2.1: got FAILED/OK, expected OK/OK"]);
        assert!(parse_expected("6.4.1 NON-STRICT\n").is_err());
    }

    #[test]
    fn the_committed_expectations_parse() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(EXPECTED);
        let expected = parse_expected(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(expected.iter().any(|e| e.case == "12.*"));
    }
}
