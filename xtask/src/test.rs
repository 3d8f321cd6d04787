//! `cargo xtask test`: every check CI runs, in one command, with a summary at the end.
//!
//! Steps keep going after a failure (so one run shows every problem), except that a step
//! whose inputs failed is skipped (no e2e run without the example binaries).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{apt, autobahn, cmd, deps, fuzz, npm, soak};

/// The e2e test directory, relative to the workspace root.
const E2E_DIR: &str = "tests/e2e";

/// Command-line options of `cargo xtask test`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Skip fmt, clippy and the dependency rules.
    pub(crate) no_lint: bool,
    /// Skip npm and the Node end-to-end tests.
    pub(crate) no_e2e: bool,
}

impl Options {
    /// Parses the arguments after `test`.
    pub(crate) fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options::default();
        for arg in args {
            match arg.as_str() {
                "--no-lint" => options.no_lint = true,
                "--no-e2e" => options.no_e2e = true,
                other => bail!("unknown option `{other}` (known: --no-lint, --no-e2e)"),
            }
        }
        Ok(options)
    }
}

/// How a step ended.
#[derive(Debug)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// The steps run so far.
#[derive(Default)]
struct Report {
    steps: Vec<(String, Outcome, Duration)>,
}

impl Report {
    /// Runs `step` under `name`, records and announces the outcome; `true` when it passed.
    fn step(&mut self, name: &str, step: impl FnOnce() -> Result<Outcome>) -> bool {
        println!("\n==> {name}");
        let start = Instant::now();
        let outcome = step().unwrap_or_else(|error| Outcome::Failed(format!("{error:#}")));
        let elapsed = start.elapsed();
        match &outcome {
            Outcome::Passed => println!("==> {name}: ok ({})", secs(elapsed)),
            Outcome::Failed(why) => println!("==> {name}: FAILED: {why}"),
            Outcome::Skipped(why) => println!("==> {name}: skipped: {why}"),
        }
        let passed = matches!(outcome, Outcome::Passed);
        self.steps.push((name.to_owned(), outcome, elapsed));
        passed
    }

    fn skip(&mut self, name: &str, why: &str) {
        println!("\n==> {name}: skipped: {why}");
        self.steps.push((name.to_owned(), Outcome::Skipped(why.to_owned()), Duration::ZERO));
    }

    /// Prints the summary table; `true` when nothing failed.
    fn finish(&self, total: Duration) -> bool {
        println!("\n==> summary");
        let width = self.steps.iter().map(|(name, ..)| name.len()).max().unwrap_or(0);
        for (name, outcome, elapsed) in &self.steps {
            let (status, note) = match outcome {
                Outcome::Passed => ("ok     ", String::new()),
                Outcome::Failed(why) => ("FAILED ", first_line(why)),
                Outcome::Skipped(why) => ("skipped", first_line(why)),
            };
            println!("  {status}  {name:<width$}  {:>7}  {note}", secs(*elapsed));
        }
        let failed = self.steps.iter().filter(|(_, o, _)| matches!(o, Outcome::Failed(_))).count();
        if failed == 0 {
            println!("all checks passed in {}", secs(total));
        } else {
            println!("{failed} step(s) FAILED (total {})", secs(total));
        }
        failed == 0
    }
}

fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Turns a command's success into an outcome.
fn passed_if(cmd: &mut Command) -> Result<Outcome> {
    Ok(if cmd::status(cmd)? {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("`{}` failed", cmd::display(cmd)))
    })
}

/// Runs every step and prints the summary.
pub(crate) fn run(root: &Path, options: &Options) -> Result<ExitCode> {
    let start = Instant::now();
    let mut report = Report::default();
    let e2e_dir = root.join(E2E_DIR);

    let npm_ok = if options.no_e2e {
        report.skip("npm ci (tests/e2e)", "--no-e2e");
        false
    } else {
        report.step("npm ci (tests/e2e)", || {
            npm::ensure_node_modules(&e2e_dir)?;
            npm::ensure_node_modules(&root.join("web"))?;
            // The Node bench server, which the msgpack bench e2e test starts.
            npm::ensure_node_modules(&root.join("bench").join("servers"))?;
            Ok(Outcome::Passed)
        })
    };

    if options.no_lint {
        for name in ["cargo fmt --check", "cargo clippy", "dependency rules"] {
            report.skip(name, "--no-lint");
        }
    } else {
        report.step("cargo fmt --check", || {
            passed_if(cmd::cargo(root).args(["fmt", "--all", "--check"]))
        });
        report.step("cargo clippy", || {
            passed_if(cmd::cargo(root).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        });
        report.step("dependency rules", || {
            deps::check(root)?;
            Ok(Outcome::Passed)
        });
    }

    // The Redis adapter's integration tests and the cluster e2e start their own
    // redis-server (Debian's package) on a free port; the server's PostgreSQL store tests
    // start their own PostgreSQL (as the `postgres` user when run as root).
    report.step("apt: redis-server, postgresql", || {
        apt::ensure_apt(&["redis-server", "postgresql"])?;
        Ok(Outcome::Passed)
    });
    // The no-sticky-sessions e2e runs its own nginx (Debian's package) as a round-robin front.
    report.step("apt: nginx", || {
        apt::ensure_apt(&["nginx"])?;
        Ok(Outcome::Passed)
    });

    report.step("cargo test", || passed_if(cmd::cargo(root).args(["test", "--workspace"])));
    // Redis Cluster support (the `cluster` feature): the test starts a throw-away cluster of
    // three redis-server masters and joins them with redis-cli (same Debian package).
    report.step("cargo test (redis cluster)", || {
        passed_if(cmd::cargo(root).args([
            "test",
            "-p",
            "switchboard-redis",
            "--features",
            "cluster",
            "--test",
            "cluster_server",
        ]))
    });
    // The hand-written concurrency under loom's model checker (tests named `loom_*`): the
    // engine's session mailbox; the socket latch, a connection's packet flow (who drains,
    // who closes) and an ack's answered flag. Built with `--cfg switchboard_loom` into a
    // target directory of its own so that the flag does not rebuild the main one.
    for krate in ["switchboard-engine", "switchboard"] {
        report.step(&format!("loom ({krate})"), || {
            let target = target_dir(root)?.join("loom");
            passed_if(
                cmd::cargo(root)
                    .env("RUSTFLAGS", "--cfg switchboard_loom")
                    .env("CARGO_TARGET_DIR", target)
                    .args(["test", "-p", krate, "--lib", "loom_"]),
            )
        });
    }
    // The API docs build without a warning (broken links, undocumented items). The server's
    // binary is called `switchboard`, as the library is, and both document into
    // `target/doc/switchboard`: built at once, one rustdoc removes files the other is writing
    // (cargo#6313). So the binary's docs are built after the rest, on their own.
    report.step("cargo doc", || {
        let doc = |args: &[&str]| {
            passed_if(cmd::cargo(root).env("RUSTDOCFLAGS", "-D warnings").args(args))
        };
        match doc(&["doc", "--workspace", "--no-deps", "--exclude", "switchboard-server"])? {
            Outcome::Passed => doc(&["doc", "--no-deps", "-p", "switchboard-server"]),
            failed => Ok(failed),
        }
    });

    // Every decoder fuzzed briefly from the committed seeds (`cargo xtask fuzz` runs longer).
    report.step("fuzz smoke", || {
        fuzz::smoke(root)?;
        Ok(Outcome::Passed)
    });

    // The WebSocket conformance suite against the engine's framing, checked against
    // tests/autobahn/expected.txt.
    report.step("autobahn", || {
        autobahn::run(root)?;
        Ok(Outcome::Passed)
    });

    // A minute of clients that connect, talk and vanish: memory and files must come back.
    report.step("soak (1 minute)", || {
        soak::run(root, 1)?;
        Ok(Outcome::Passed)
    });

    if options.no_e2e {
        report.skip("build examples", "--no-e2e");
        report.skip("node e2e tests", "--no-e2e");
    } else {
        // `--workspace` rather than `-p switchboard`: the same feature set as `cargo test
        // --workspace`, so this reuses its build instead of recompiling tokio and hyper.
        let built = report.step("build examples", || {
            passed_if(cmd::cargo(root).args(["build", "--workspace", "--examples", "--bins"]))
        });
        // The browser tests drive the Debian `chromium` package; the TLS test makes its
        // certificate with the `openssl` command.
        report.step("apt: chromium, openssl", || {
            apt::ensure_apt(&["chromium", "openssl"])?;
            Ok(Outcome::Passed)
        });
        if !npm_ok {
            report.skip("node e2e tests", "npm install failed");
        } else if !built {
            report.skip("node e2e tests", "the example binaries did not build");
        } else {
            report.step("node e2e tests", || node_tests(root, &e2e_dir));
        }
    }

    Ok(if report.finish(start.elapsed()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `node --test` over every `*.test.mjs` under `dir`, with the example binaries' paths in the
/// environment.
fn node_tests(root: &Path, dir: &Path) -> Result<Outcome> {
    let mut files = Vec::new();
    find_test_files(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Ok(Outcome::Skipped(format!("no *.test.mjs files in {E2E_DIR} yet")));
    }
    if !cmd::on_path("node") {
        bail!("node is not installed: install Node.js 20 or newer, then rerun");
    }
    let version = cmd::output(Command::new("node").arg("--version"))?;
    match node_major(&version) {
        Some(major) if major >= MIN_NODE => {}
        _ => bail!("Node.js {MIN_NODE} or newer is needed, found {}", version.trim()),
    }
    let debug = target_dir(root)?.join("debug");
    let examples = debug.join("examples");
    let mut node = Command::new("node");
    node.current_dir(root)
        .env("SWITCHBOARD_CONFORMANCE_BIN", examples.join("conformance"))
        .env("SWITCHBOARD_SERVER_BIN", debug.join("switchboard"))
        .env("SWITCHBOARD_BENCH_BIN", examples.join("bench"))
        .env("SWITCHBOARD_CLIENT_DIST", crate::client_dist(root))
        .arg("--test")
        .args(files.iter().map(|file| file.strip_prefix(root).unwrap_or(file)));
    passed_if(&mut node)
}

/// The oldest Node.js major version the e2e tests support.
const MIN_NODE: u32 = 20;

/// The major version in `node --version` output (`v20.11.1`).
fn node_major(version: &str) -> Option<u32> {
    version.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Collects `*.test.mjs` files under `dir`, skipping `node_modules`.
fn find_test_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            if name != "node_modules" {
                find_test_files(&path, files)?;
            }
        } else if name.ends_with(".test.mjs") {
            files.push(path);
        }
    }
    Ok(())
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR` and `build.target-dir`).
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf> {
    let metadata =
        cmd::output(cmd::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    json_string_field(&metadata, "target_directory")
        .map(PathBuf::from)
        .context("`cargo metadata` printed no target_directory")
}

/// The value of the first `"key":"..."` string field in `json` (enough for `cargo metadata`,
/// without a JSON dependency).
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\":\"");
    let start = json.find(&needle)? + needle.len();
    let mut value = String::new();
    let mut chars = json.get(start..)?.chars();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        let both = ["--no-e2e".to_owned(), "--no-lint".to_owned()];
        assert_eq!(Options::parse(&both).unwrap(), Options { no_lint: true, no_e2e: true });
        assert!(Options::parse(&["--fast".to_owned()]).is_err());
    }

    #[test]
    fn node_major_version() {
        assert_eq!(node_major("v20.20.2\n"), Some(20));
        assert_eq!(node_major("v22.1.0"), Some(22));
        assert_eq!(node_major("20.1.0"), None);
        assert_eq!(node_major(""), None);
    }

    #[test]
    fn target_directory_is_read_from_metadata_json() {
        let json = r#"{"packages":[],"target_directory":"/w/my \"t\"\\dir\u00e9","version":1}"#;
        assert_eq!(json_string_field(json, "target_directory").unwrap(), "/w/my \"t\"\\dir\u{e9}");
        assert_eq!(json_string_field(json, "workspace_root"), None);
        assert_eq!(
            json_string_field(r#"{"target_directory":"/unterminated"#, "target_directory"),
            None
        );
    }

    #[test]
    fn finds_test_files_recursively_but_not_in_node_modules() {
        let dir = std::env::temp_dir().join(format!("xtask-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::create_dir_all(dir.join("node_modules/ws")).unwrap();
        for file in ["a.test.mjs", "lib/helper.mjs", "lib/b.test.mjs", "node_modules/ws/c.test.mjs"]
        {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let mut files = Vec::new();
        find_test_files(&dir, &mut files).unwrap();
        files.sort();
        assert_eq!(files, vec![dir.join("a.test.mjs"), dir.join("lib/b.test.mjs")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
