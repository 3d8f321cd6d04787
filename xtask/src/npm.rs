//! The npm packages of `tests/e2e`: `npm ci` when `node_modules` is missing or older than the
//! lock file.
//!
//! Freshness is a stamp file inside `node_modules` holding a hash of `package.json` and
//! `package-lock.json` as they were at the last install: deleting `node_modules` or changing
//! either file triggers a clean install.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The stamp file, relative to the e2e directory.
const STAMP: &str = "node_modules/.switchboard-lock-hash";

/// Makes `dir/node_modules` match `dir/package-lock.json`. Does nothing when `dir` has no
/// `package.json`.
pub(crate) fn ensure_node_modules(dir: &Path) -> Result<()> {
    let manifest = dir.join("package.json");
    if !manifest.is_file() {
        println!("npm: no {} — nothing to install", manifest.display());
        return Ok(());
    }
    let lock_path = dir.join("package-lock.json");
    let lock = std::fs::read(&lock_path).with_context(|| {
        format!("{} is missing: run `npm install` there and commit it", lock_path.display())
    })?;
    let manifest =
        std::fs::read(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let expected = stamp_of(&manifest, &lock);
    let stamp_path = dir.join(STAMP);
    let current = std::fs::read_to_string(&stamp_path).ok();
    if !needs_install(current.as_deref(), &expected) {
        println!("npm: {} is up to date", dir.join("node_modules").display());
        return Ok(());
    }
    if !cmd::on_path("npm") {
        bail!("npm is not installed: install Node.js 20 or newer (with npm), then rerun");
    }
    cmd::run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir))?;
    std::fs::write(&stamp_path, &expected)
        .with_context(|| format!("cannot write {}", stamp_path.display()))?;
    Ok(())
}

/// Whether to reinstall, given the stamp found (if any) and the one expected.
pub(crate) fn needs_install(current: Option<&str>, expected: &str) -> bool {
    current.map(str::trim) != Some(expected)
}

/// The stamp for a manifest and lock file: a 64-bit FNV-1a hash in hex. Not cryptographic;
/// it only has to change when the files do, and be the same across toolchains.
pub(crate) fn stamp_of(manifest: &[u8], lock: &[u8]) -> String {
    let mut hash = Fnv1a::default();
    hash.write(manifest);
    hash.write(&[0]);
    hash.write(lock);
    format!("fnv1a64:{:016x}", hash.0)
}

/// The 64-bit FNV-1a hash.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv(bytes: &[u8]) -> u64 {
        let mut hash = Fnv1a::default();
        hash.write(bytes);
        hash.0
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn stamp_changes_with_either_file() {
        let base = stamp_of(b"{}", b"lock");
        assert_eq!(base, stamp_of(b"{}", b"lock"));
        assert_ne!(base, stamp_of(b"{ }", b"lock"));
        assert_ne!(base, stamp_of(b"{}", b"lock2"));
        // The separator keeps the boundary between the files significant.
        assert_ne!(stamp_of(b"ab", b"c"), stamp_of(b"a", b"bc"));
    }

    #[test]
    fn install_when_the_stamp_is_missing_or_stale() {
        let expected = stamp_of(b"{}", b"lock");
        assert!(needs_install(None, &expected));
        assert!(needs_install(Some("fnv1a64:0000000000000000"), &expected));
        assert!(!needs_install(Some(&expected), &expected));
        assert!(!needs_install(Some(&format!("{expected}\n")), &expected));
    }
}
