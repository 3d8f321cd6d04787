//! `cargo xtask bench [--quick] [RUNNER ARGS...]`: builds the release binaries (our `bench`
//! example, the load generator, the socketioxide server in its own workspace), installs the Node
//! server's npm packages, then runs `switchboard-bench run`, which writes
//! `bench/results/<date>.md` with SVG charts and updates the README's marked section.
//!
//! Not part of `cargo xtask test`: a full run takes about a quarter of an hour.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result};

use crate::{apt, cmd, npm};

/// Builds everything the benchmark needs and runs it; `args` go to the runner.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<ExitCode> {
    cmd::run(cmd::cargo(root).args([
        "build",
        "--release",
        "-p",
        "switchboard",
        "--example",
        "bench",
    ]))?;
    cmd::run(cmd::cargo(root).args(["build", "--release", "-p", "switchboard-bench"]))?;
    // An excluded crate with its own lock file: build it into a subdirectory of our target dir.
    let target = root.join("target").join("socketioxide");
    let manifest = root.join("bench").join("socketioxide-server").join("Cargo.toml");
    cmd::run(
        cmd::cargo(root)
            .arg("build")
            .arg("--release")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target),
    )?;
    if !cmd::on_path("node") {
        anyhow::bail!("node is not installed: the comparison needs Node.js 20 or newer");
    }
    npm::ensure_node_modules(&root.join("bench").join("servers"))?;
    // The cross-node broadcast runs its own Redis server (leave it out with `--no-cluster`).
    if !args.iter().any(|a| a == "--no-cluster") {
        apt::ensure_apt(&["redis-server"])
            .context("the cross-node broadcast needs redis-server (or run with --no-cluster)")?;
    }
    let runner = root.join("target").join("release").join("switchboard-bench");
    let mut cmd = Command::new(runner);
    cmd.current_dir(root).arg("run").arg("--root").arg(root).args(args);
    cmd::exit_code_of(cmd)
}
