//! Project automation for Switchboard, run as `cargo xtask <command>`.
//!
//! The alias lives in `.cargo/config.toml`. Commands:
//!
//! - `test`: everything CI checks (formatting, clippy, dependency rules, Rust tests, the Node
//!   end-to-end tests), installing what the tests need first (the npm packages of `tests/e2e`).
//! - `run`: the `switchboard` server binary (arguments are passed on), after installing the
//!   official browser client it serves (`npm ci` in `web/`).
//! - `bench`: the side-by-side benchmarks against Node socket.io and socketioxide (`--quick` for a
//!   short run); writes `bench/results/<date>.md` and the README's benchmark table.
//! - `conformance`: the protocol test server on port 3000 (arguments are passed on).
//! - `autobahn`: the WebSocket conformance suite against the engine's WebSocket stack.
//! - `soak`: clients that connect, talk and vanish for minutes; memory and files must return.
//! - `fuzz`: the cargo-fuzz targets of `fuzz/` on the nightly toolchain (`--seconds N` each).
//! - `ensure-apt`: installs missing Debian packages (what later test steps use for Redis and
//!   Chromium).
//!
//! Only `std` and `anyhow`: the tool builds in seconds on a fresh clone.

mod apt;
mod autobahn;
mod bench;
mod cmd;
mod deps;
mod fuzz;
mod npm;
mod soak;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  test [--no-lint] [--no-e2e]   formatting, clippy, dependency rules, Rust tests, Node e2e tests
  run [ARGS...]                 run the switchboard server (e.g. `cargo xtask run --port 8080`)
  bench [--quick] [ARGS...]     benchmarks vs Node socket.io and socketioxide (bench/results/)
  conformance [ARGS...]         run the protocol test server (default `--port 3000`)
  autobahn                      the WebSocket conformance suite (Python 2.7, pyenv)
  fuzz [--seconds N | --runs N] [TARGET...]
                                fuzz every decoder for N seconds (default 60) or N inputs each
  soak [--minutes N]            clients connect, talk and vanish for N minutes (default 1);
                                the server's memory and files must come back
  ensure-apt PACKAGE...         apt-get install the Debian packages that are missing
  help                          this text
";

/// `SWITCHBOARD_API_KEY` → `api-key`: the command-line flag of a variable.
fn name_flag(var: &str) -> String {
    var.trim_start_matches("SWITCHBOARD_").to_ascii_lowercase().replace('_', "-")
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "help".to_owned());
    let mut rest: Vec<String> = args.collect();
    // `cargo xtask run -- --port 8080` hands xtask a literal `--`: drop it.
    if rest.first().is_some_and(|arg| arg == "--") {
        rest.remove(0);
    }
    let root = workspace_root()?;
    match command.as_str() {
        "test" => test::run(&root, &test::Options::parse(&rest)?),
        "run" => {
            npm::ensure_node_modules(&root.join("web"))?;
            let mut cmd = cmd::cargo(&root);
            cmd.env("SWITCHBOARD_CLIENT_DIST", client_dist(&root));
            // A working demo out of the box: in dev mode (no JWT), a development key for
            // `POST /api/notify`; the server logs a `curl` line that uses it.
            let configured = |name: &str| {
                std::env::var_os(name).is_some()
                    || rest.iter().any(|a| a.starts_with(&format!("--{}", name_flag(name))))
            };
            if !configured("SWITCHBOARD_API_KEY")
                && !configured("SWITCHBOARD_JWT_SECRET")
                && !configured("SWITCHBOARD_JWT_PUBLIC_KEY")
                && !rest.iter().any(|a| a.starts_with("--config"))
            {
                cmd.env("SWITCHBOARD_API_KEY", "dev-key");
            }
            cmd.args(["run", "-p", "switchboard-server", "--"]).args(&rest);
            cmd::exit_code_of(cmd)
        }
        "conformance" => {
            let mut cmd = cmd::cargo(&root);
            cmd.args(["run", "-p", "switchboard", "--example", "conformance", "--"]);
            if rest.is_empty() {
                cmd.args(["--port", "3000"]);
            }
            cmd.args(&rest);
            cmd::exit_code_of(cmd)
        }
        "bench" => bench::run(&root, &rest),
        "soak" => {
            soak::run(&root, soak::minutes(&rest)?)?;
            Ok(ExitCode::SUCCESS)
        }
        "autobahn" => {
            autobahn::run(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        "fuzz" => {
            fuzz::run(&root, &fuzz::Options::parse(&rest)?)?;
            Ok(ExitCode::SUCCESS)
        }
        "ensure-apt" => {
            let packages: Vec<&str> = rest.iter().map(String::as_str).collect();
            if packages.is_empty() {
                bail!("ensure-apt needs at least one package name");
            }
            apt::ensure_apt(&packages)?;
            Ok(ExitCode::SUCCESS)
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The `dist` folder of the official browser client, installed from npm into `web/`.
///
/// The Socket.IO server serves it at `/socket.io/socket.io.js` (see `SocketIoConfig::client_dist`).
pub(crate) fn client_dist(root: &Path) -> PathBuf {
    root.join("web/node_modules/socket.io-client/dist")
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}
