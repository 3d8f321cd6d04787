//! `cargo xtask soak [--minutes N]`: the protocol test server (sessions end within 0.5 s of a
//! client vanishing) under rounds of clients that connect, talk and vanish for N minutes
//! (default 1); fails unless its RSS is back within 10 % of what it was after the first round
//! and every connection's file is closed (`switchboard-bench soak`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Parses `--minutes N` (default 1).
pub(crate) fn minutes(args: &[String]) -> Result<u64> {
    match args {
        [] => Ok(1),
        [flag, n] if flag == "--minutes" => n
            .parse()
            .ok()
            .filter(|m| *m > 0)
            .with_context(|| format!("--minutes: `{n}` is not a positive number")),
        _ => bail!("usage: cargo xtask soak [--minutes N]"),
    }
}

/// Runs the soak for `minutes`.
pub(crate) fn run(root: &Path, minutes: u64) -> Result<()> {
    cmd::run(cmd::cargo(root).args(["build", "-p", "switchboard", "--example", "conformance"]))?;
    cmd::run(cmd::cargo(root).args(["build", "-p", "switchboard-bench"]))?;
    let debug = crate::test::target_dir(root)?.join("debug");
    let server = cmd::serve_on_free_port(&debug.join("examples/conformance"))?;
    let (port, pid) = (server.port, server.pid());
    let mut soak = Command::new(debug.join("switchboard-bench"));
    soak.args(["soak", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--server-pid", &pid.to_string()])
        .args(["--seconds", &(minutes * 60).to_string()]);
    let passed = cmd::status(&mut soak)?;
    drop(server);
    if !passed {
        bail!("the soak failed (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_default_to_one() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(minutes(&[]).unwrap(), 1);
        assert_eq!(minutes(&args(&["--minutes", "10"])).unwrap(), 10);
        assert!(minutes(&args(&["--minutes", "0"])).is_err());
        assert!(minutes(&args(&["--hours", "1"])).is_err());
    }
}
