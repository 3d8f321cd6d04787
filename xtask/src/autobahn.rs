//! `cargo xtask autobahn`: the WebSocket conformance suite (Autobahn|Testsuite, from PyPI, on
//! Python 2.7 as pyenv provides it), both ways:
//! - its fuzzing client against the engine's WebSocket stack
//!   (`crates/engine/examples/ws_echo.rs`, permessage-deflate accepted, so that the
//!   compression cases 12.x and 13.x run), checked against `tests/autobahn/expected.txt`;
//! - its fuzzing server against the Rust client's WebSocket layer
//!   (`crates/client/examples/autobahn_client.rs`), checked against
//!   `tests/autobahn/client-expected.txt`.
//!
//! The suite is installed once into `target/autobahn/site` (`pip install --target`); its
//! reports go to `target/autobahn/report/<part>` (the server side runs in two parts side by
//! side, see [`SERVER_PARTS`]) and `target/autobahn/client-report` (`index.html` for a
//! person).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The expectation file of the server side, relative to the workspace root.
const EXPECTED: &str = "tests/autobahn/expected.txt";

/// The expectation file of the client side, relative to the workspace root.
const CLIENT_EXPECTED: &str = "tests/autobahn/client-expected.txt";

/// The agent name the client reports under.
const CLIENT_AGENT: &str = "switchboard-client";

/// How long the fuzzing server may take to start listening.
const SERVER_START: Duration = Duration::from_secs(60);

/// One line of the expectation file: a case (or a `prefix.*`) and its expected results.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    case: String,
    behavior: String,
    close: String,
}

/// Parses an expectation file: `case behavior close why...`, `#` comments.
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
            bail!("line {}: expected `case behavior close why`", n + 1);
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
/// `(case, behavior, behaviorClose)` of every case of `agent`.
fn read_report(python: &Path, path: &Path, agent: &str) -> Result<Vec<(String, String, String)>> {
    let script = format!(
        "import json\nfor c, v in json.load(open({path:?}))[{agent:?}].items():\n    \
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

/// Reads and parses an expectation file (`relative` to the workspace root).
fn read_expected(root: &Path, relative: &str) -> Result<Vec<Expected>> {
    let text = std::fs::read_to_string(root.join(relative))
        .with_context(|| format!("reading {relative}"))?;
    parse_expected(&text).with_context(|| format!("in {relative}"))
}

/// Runs the suite both ways and checks it; fails on any difference from the expectation files.
pub(crate) fn run(root: &Path) -> Result<()> {
    let expected = read_expected(root, EXPECTED)?;
    let client_expected = read_expected(root, CLIENT_EXPECTED)?;
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
    std::fs::create_dir_all(&work)?;
    let server_side = check_server(root, &python, &site, &work, &expected);
    // The client side runs even when the server side failed: both results are wanted.
    let client_side = check_client(root, &python, &site, &work, &client_expected);
    server_side.and(client_side)
}

/// The server side's cases in two parts of about the same length, run side by side: the
/// suite's fuzzing client is one single-threaded Python process and takes most of the time
/// (the compression cases above all: in 12.1.x it used five times the CPU of the echo
/// server), and the machine has two cores. `(name, cases, excluded)`.
const SERVER_PARTS: [(&str, &str, &str); 2] =
    [("compression-12", "12.*", ""), ("the-rest", "*", "12.*")];

/// The fuzzing client against the engine's echo server.
fn check_server(
    root: &Path,
    python: &Path,
    site: &Path,
    work: &Path,
    expected: &[Expected],
) -> Result<()> {
    cmd::run(cmd::cargo(root).args(["build", "-p", "switchboard-engine", "--example", "ws_echo"]))?;
    let bin = crate::test::target_dir(root)?.join("debug/examples/ws_echo");
    // Compression is accepted: only the cases that offer it (12.x, 13.x) use it.
    let echo = cmd::serve_on_free_port_with(&bin, &["--per-message-deflate"])?;
    let port = echo.port;
    let report = work.join("report");
    let _ = std::fs::remove_dir_all(&report);
    // Each part in its own directory (the suite writes its reports and logs where it runs).
    let mut running = Vec::new();
    for (name, cases, excluded) in SERVER_PARTS {
        let dir = report.join(name);
        std::fs::create_dir_all(&dir)?;
        let excluded = if excluded.is_empty() { String::new() } else { format!("{excluded:?}") };
        let spec = format!(
            "{{\"outdir\": {outdir:?}, \"servers\": [{{\"agent\": \"switchboard\", \
             \"url\": \"ws://127.0.0.1:{port}\"}}], \"cases\": [{cases:?}], \
             \"exclude-cases\": [{excluded}], \"exclude-agent-cases\": {{}}}}",
            outdir = dir.display().to_string()
        );
        let spec_path = dir.join("fuzzingclient.json");
        std::fs::write(&spec_path, spec)?;
        let mut client = wstest(python, site, &dir, "fuzzingclient", &spec_path);
        println!("$ {}", cmd::display(&client));
        match client.stdin(Stdio::null()).stdout(Stdio::null()).spawn() {
            Ok(child) => running.push((name, child)),
            Err(error) => {
                for (_, mut child) in running {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(error).context("cannot start the fuzzing client");
            }
        }
    }
    // Every part is waited for, whatever another one did: none is left running.
    let mut failed = Vec::new();
    for (name, mut child) in running {
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => failed.push(format!("{name} ({status})")),
            Err(error) => failed.push(format!("{name} (not waited for: {error})")),
        }
    }
    drop(echo);
    if !failed.is_empty() {
        bail!("the fuzzing client failed on the part(s) {}", failed.join(", "));
    }
    let mut results = Vec::new();
    for (name, ..) in SERVER_PARTS {
        let part = read_report(python, &report.join(name).join("index.json"), "switchboard")?;
        if part.is_empty() {
            bail!("autobahn (server side): the report of {name} lists no case");
        }
        results.extend(part);
    }
    let shown = report.join("*").join("index.html");
    compare("autobahn (server side)", EXPECTED, expected, &results, &shown)
}

/// The fuzzing server against the client's WebSocket layer.
fn check_client(
    root: &Path,
    python: &Path,
    site: &Path,
    work: &Path,
    expected: &[Expected],
) -> Result<()> {
    let example = ["build", "-p", "switchboard-client", "--example", "autobahn_client"];
    cmd::run(cmd::cargo(root).args(example))?;
    let bin = crate::test::target_dir(root)?.join("debug/examples/autobahn_client");
    let report = work.join("client-report");
    let _ = std::fs::remove_dir_all(&report);
    let port = free_port()?;
    let url = format!("ws://127.0.0.1:{port}");
    let spec = format!(
        "{{\"url\": {url:?}, \"outdir\": {outdir:?}, \"cases\": [\"*\"], \
         \"exclude-cases\": [], \"exclude-agent-cases\": {{}}}}",
        outdir = report.display().to_string()
    );
    let spec_path = work.join("fuzzingserver.json");
    std::fs::write(&spec_path, spec)?;
    let mut server = wstest(python, site, work, "fuzzingserver", &spec_path);
    println!("$ {}", cmd::display(&server));
    let child = server
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start the fuzzing server")?;
    // Killed (by its PID) when dropped, whatever fails below.
    let server = cmd::Server::adopt(child, port);
    wait_for_port(server.port)?;
    cmd::run(Command::new(&bin).args([url.as_str(), CLIENT_AGENT]))?;
    drop(server);
    let results = read_report(python, &report.join("index.json"), CLIENT_AGENT)?;
    let shown = report.join("index.html");
    compare("autobahn (client side)", CLIENT_EXPECTED, expected, &results, &shown)
}

/// `wstest -m MODE -s SPEC`, from the `--target` directory the suite was installed into.
fn wstest(python: &Path, site: &Path, work: &Path, mode: &str, spec: &Path) -> Command {
    // The suite's packages are a `--target` directory: `site.addsitedir` reads their `.pth`
    // files (zope's namespace package needs them).
    let boot = format!(
        "import site, sys; site.addsitedir({site:?}); \
         sys.argv = ['wstest', '-m', {mode:?}, '-s', {spec:?}]; \
         from autobahntestsuite.wstest import run; run()",
        site = site.display().to_string(),
        spec = spec.display().to_string(),
    );
    let mut cmd = Command::new(python);
    cmd.current_dir(work).args(["-c", &boot]);
    cmd
}

/// Prints the count and where the `report` is, and fails with the cases that differ from
/// `expected`.
fn compare(
    what: &str,
    file: &str,
    expected: &[Expected],
    results: &[(String, String, String)],
    report: &Path,
) -> Result<()> {
    let diffs = differences(expected, results);
    println!("{what}: {} cases, report in {}", results.len(), report.display());
    if results.is_empty() {
        bail!("{what}: the report lists no case");
    }
    if !diffs.is_empty() {
        bail!("{what}: {} case(s) differ from {file}:\n  {}", diffs.len(), diffs.join("\n  "));
    }
    Ok(())
}

/// A port free a moment ago (the fuzzing server takes its port from its settings file).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts connections on `port`, for at most [`SERVER_START`].
fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + SERVER_START;
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            bail!("the fuzzing server did not listen on port {port} within {SERVER_START:?}");
        }
        // A server starting up: nothing to wait on but the clock.
        std::thread::sleep(Duration::from_millis(100));
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
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let expected = read_expected(&root, EXPECTED).unwrap();
        assert!(expected.iter().any(|e| e.case == "9.3.*"));
        let client = read_expected(&root, CLIENT_EXPECTED).unwrap();
        assert!(client.iter().any(|e| e.case == "12.*"));
    }
}
