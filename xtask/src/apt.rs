//! Installing Debian packages the tests need (Redis, Chromium, ...), only when missing.
//!
//! The decision (what is missing, whether we may install it) is pure and unit-tested; the
//! effects (`dpkg-query`, `apt-get`) are thin wrappers around it.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Whether `apt-get update` already ran in this process. Why an atomic: `ensure_apt` may be
/// called by several test steps, and the package lists need refreshing only once per run.
static UPDATED: AtomicBool = AtomicBool::new(false);

/// What `ensure_apt` has to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Everything is installed.
    Nothing,
    /// Install these (we are root).
    Install(Vec<String>),
    /// These are missing and we are not root: tell the user.
    NeedRoot(Vec<String>),
}

/// Installs whichever of `packages` are not installed yet, with `apt-get` (running
/// `apt-get update` once first). Fails clearly when not root.
pub(crate) fn ensure_apt(packages: &[&str]) -> Result<()> {
    if !cmd::on_path("dpkg-query") || !cmd::on_path("apt-get") {
        bail!(
            "this is not a Debian-like system (no dpkg-query/apt-get): install {} yourself",
            packages.join(" ")
        );
    }
    let installed = installed_packages(packages)?;
    let is_root = effective_uid()? == 0;
    match plan(packages, &installed, is_root) {
        Plan::Nothing => {
            println!("apt: already installed: {}", packages.join(" "));
            Ok(())
        }
        Plan::NeedRoot(missing) => bail!(
            "missing Debian packages: {list}; run as root, or install them first:\n    \
             sudo apt-get update && sudo apt-get install -y {list}",
            list = missing.join(" ")
        ),
        Plan::Install(missing) => {
            if !UPDATED.swap(true, Ordering::SeqCst) {
                cmd::run(apt_get().arg("update"))?;
            }
            cmd::run(apt_get().args(["install", "-y", "--no-install-recommends"]).args(&missing))
        }
    }
}

/// `apt-get` that never asks questions (CI has no stdin).
fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    cmd
}

/// Which of `packages` dpkg reports as installed.
fn installed_packages(packages: &[&str]) -> Result<HashSet<String>> {
    // dpkg-query exits 1 and complains on stderr for unknown names, but still lists the
    // others on stdout, so the exit code is deliberately not checked.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package}\t${db:Status-Abbrev}\n"])
        .args(packages)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("cannot run dpkg-query")?;
    Ok(parse_installed(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n'` output into the set of
/// installed package names. The second status letter is the current state; `i` = installed.
pub(crate) fn parse_installed(output: &str) -> HashSet<String> {
    output
        .lines()
        .filter_map(|line| {
            let (name, status) = line.split_once('\t')?;
            let name = name.trim();
            (!name.is_empty() && status.chars().nth(1) == Some('i')).then(|| name.to_owned())
        })
        .collect()
}

/// The packages of `wanted` not in `installed`, in the order asked for, without duplicates.
pub(crate) fn missing(wanted: &[&str], installed: &HashSet<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    wanted
        .iter()
        .filter(|name| !installed.contains(**name) && seen.insert(**name))
        .map(|name| (*name).to_owned())
        .collect()
}

/// Decides what to do.
pub(crate) fn plan(wanted: &[&str], installed: &HashSet<String>, is_root: bool) -> Plan {
    let missing = missing(wanted, installed);
    if missing.is_empty() {
        Plan::Nothing
    } else if is_root {
        Plan::Install(missing)
    } else {
        Plan::NeedRoot(missing)
    }
}

/// The effective user id, from `/proc/self/status`.
fn effective_uid() -> Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status to tell whether we are root")?;
    parse_effective_uid(&status).context("no Uid line in /proc/self/status")
}

/// The effective uid (second field) of the `Uid:` line of `/proc/<pid>/status`.
pub(crate) fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DPKG: &str = "redis-server\tii \nchromium\trc \nbash\tii \ncurl\tun \n";

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn only_fully_installed_packages_count() {
        // `rc` = removed, config files left; `un` = unknown/not installed.
        assert_eq!(parse_installed(DPKG), set(&["redis-server", "bash"]));
        assert_eq!(parse_installed(""), set(&[]));
        assert_eq!(parse_installed("garbage line\n\tii \n"), set(&[]));
    }

    #[test]
    fn missing_keeps_order_and_drops_duplicates() {
        let installed = parse_installed(DPKG);
        assert_eq!(
            missing(&["chromium", "redis-server", "nodejs", "chromium"], &installed),
            vec!["chromium".to_owned(), "nodejs".to_owned()]
        );
        assert!(missing(&["bash", "redis-server"], &installed).is_empty());
    }

    #[test]
    fn plan_installs_as_root_and_explains_otherwise() {
        let installed = set(&["redis-server"]);
        assert_eq!(plan(&["redis-server"], &installed, false), Plan::Nothing);
        assert_eq!(plan(&["redis-server"], &installed, true), Plan::Nothing);
        assert_eq!(
            plan(&["redis-server", "chromium"], &installed, true),
            Plan::Install(vec!["chromium".to_owned()])
        );
        assert_eq!(
            plan(&["redis-server", "chromium"], &installed, false),
            Plan::NeedRoot(vec!["chromium".to_owned()])
        );
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tcat\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(parse_effective_uid("Name:\tcat\n"), None);
        assert_eq!(parse_effective_uid("Uid:\tx\n"), None);
    }
}
