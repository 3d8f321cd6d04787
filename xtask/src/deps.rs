//! The dependency rules of docs/ARCHITECTURE.md, checked with `cargo tree`.

use std::path::Path;

use anyhow::{Result, bail};

use crate::cmd;

/// One rule: `package`'s normal (non-dev, non-build) dependency tree must not contain a crate
/// matching any of `forbidden`.
pub(crate) struct Rule {
    /// The package checked.
    pub(crate) package: &'static str,
    /// Its directory; the rule is skipped while the crate does not exist yet.
    pub(crate) dir: &'static str,
    /// Crate-name patterns: exact, `prefix-*` or `*-suffix`.
    pub(crate) forbidden: &'static [&'static str],
    /// Why, for the error message.
    pub(crate) why: &'static str,
}

/// The rules.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        package: "switchboard-proto",
        dir: "crates/proto",
        forbidden: &[
            "tokio",
            "tokio-*",
            "hyper",
            "hyper-*",
            "http",
            "http-*",
            "tungstenite",
            "*-tungstenite",
            "mio",
        ],
        why: "the protocol crate is sans-IO: it must not depend on an async runtime or HTTP stack",
    },
    Rule {
        package: "switchboard-adapter",
        dir: "crates/adapter",
        forbidden: &["switchboard", "switchboard-server"],
        why: "adapters never depend on the server crate (only its dev-dependencies may)",
    },
    Rule {
        package: "switchboard-redis",
        dir: "crates/redis",
        forbidden: &["switchboard", "switchboard-server"],
        why: "adapters never depend on the server crate (only its dev-dependencies may)",
    },
];

/// Checks every rule whose crate exists; fails listing every violation.
pub(crate) fn check(root: &Path) -> Result<()> {
    let mut violations = Vec::new();
    for rule in RULES {
        if !root.join(rule.dir).join("Cargo.toml").is_file() {
            println!("deps: {} does not exist yet, rule skipped", rule.package);
            continue;
        }
        let mut tree = cmd::cargo(root);
        tree.args(["tree", "-p", rule.package, "-e", "normal", "--prefix", "none"]);
        println!("$ {}", cmd::display(&tree));
        let out = cmd::output(&mut tree)?;
        let bad = violations_in(&out, rule);
        if bad.is_empty() {
            println!("deps: {} ok", rule.package);
        } else {
            violations.push(format!(
                "{} depends on {} — {}",
                rule.package,
                bad.join(", "),
                rule.why
            ));
        }
    }
    if !violations.is_empty() {
        bail!("dependency rule broken:\n  {}", violations.join("\n  "));
    }
    Ok(())
}

/// The forbidden crate names in `cargo tree --prefix none` output, sorted and deduplicated.
pub(crate) fn violations_in(tree: &str, rule: &Rule) -> Vec<String> {
    let mut bad: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != rule.package)
        .filter(|name| rule.forbidden.iter().any(|pattern| matches(pattern, name)))
        .map(str::to_owned)
        .collect();
    bad.sort();
    bad.dedup();
    bad
}

/// Whether crate `name` matches `pattern` (exact, `prefix-*` or `*-suffix`).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        name.ends_with(suffix)
    } else {
        name == pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto_rule() -> &'static Rule {
        &RULES[0]
    }

    #[test]
    fn clean_proto_tree_passes() {
        let tree = "switchboard-proto v0.1.0 (/w/crates/proto)\nbase64 v0.22.1\nbytes v1.10.1\n\
                    serde v1.0.219\nserde_derive v1.0.219 (proc-macro)\nhttparse v1.10.1\n\
                    bytes v1.10.1 (*)\n";
        assert!(violations_in(tree, proto_rule()).is_empty());
    }

    #[test]
    fn async_and_http_crates_are_reported_once() {
        let tree = "switchboard-proto v0.1.0 (/w/crates/proto)\ntokio v1.45.0\nmio v1.0.3\n\
                    http v1.3.1\nhttp-body v1.0.1\nhyper-util v0.1.11\n\
                    tokio-tungstenite v0.30.0\ntokio v1.45.0 (*)\n";
        assert_eq!(
            violations_in(tree, proto_rule()),
            ["http", "http-body", "hyper-util", "mio", "tokio", "tokio-tungstenite"]
        );
    }

    #[test]
    fn adapter_may_use_proto_but_not_the_server_crates() {
        let rule = &RULES[1];
        let ok = "switchboard-adapter v0.1.0 (/w/crates/adapter)\nswitchboard-proto v0.1.0\n";
        assert!(violations_in(ok, rule).is_empty());
        let bad = "switchboard-adapter v0.1.0 (/w)\nswitchboard v0.1.0 (/w/crates/switchboard)\n";
        assert_eq!(violations_in(bad, rule), ["switchboard"]);
    }

    #[test]
    fn patterns() {
        assert!(matches("tokio", "tokio"));
        assert!(!matches("tokio", "tokio-util"));
        assert!(matches("tokio-*", "tokio-util"));
        assert!(matches("*-tungstenite", "tokio-tungstenite"));
        assert!(!matches("http-*", "httparse"));
        assert!(!matches("http", "httparse"));
    }
}
