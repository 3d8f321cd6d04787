//! Running child processes: echo the command line, inherit stdio, report failures clearly.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};

/// A `cargo` command run from `root`, using the same cargo that runs xtask.
pub(crate) fn cargo(root: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(root);
    cmd
}

/// The command line as the user would type it (program name without its directory).
pub(crate) fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .map_or_else(|| cmd.get_program().to_string_lossy(), OsStr::to_string_lossy);
    let mut line = program.into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) {
            line.push_str(&format!("'{arg}'"));
        } else {
            line.push_str(&arg);
        }
    }
    line
}

/// Runs `cmd` with inherited stdio; `Ok(true)` when it exits successfully.
pub(crate) fn status(cmd: &mut Command) -> Result<bool> {
    println!("$ {}", display(cmd));
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    Ok(status.success())
}

/// Runs `cmd` with inherited stdio and fails unless it succeeds.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    if !status(cmd)? {
        bail!("`{}` failed", display(cmd));
    }
    Ok(())
}

/// Runs `cmd` to completion, giving its stdout; fails (with its stderr) unless it succeeds.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", display(cmd)))?;
    if !out.status.success() {
        bail!("`{}` failed: {}", display(cmd), String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{}` printed non-UTF-8", display(cmd)))
}

/// Runs `cmd` in the foreground (stdin inherited, for interactive servers) and passes its exit
/// code on.
pub(crate) fn exit_code_of(mut cmd: Command) -> Result<ExitCode> {
    println!("$ {}", display(&cmd));
    let status = cmd.status().with_context(|| format!("cannot start `{}`", display(&cmd)))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// A server started by [`serve_on_free_port`], killed (and reaped) when dropped.
pub(crate) struct Server {
    child: Child,
    /// The port it printed.
    pub(crate) port: u16,
}

impl Server {
    /// Guards `child`, already listening on `port`.
    pub(crate) fn adopt(child: Child, port: u16) -> Server {
        Server { child, port }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program --port 0` and reads the port from the first line it prints
/// (`listening on http://127.0.0.1:PORT`).
pub(crate) fn serve_on_free_port(program: &Path) -> Result<Server> {
    serve_on_free_port_with(program, &[])
}

/// [`serve_on_free_port`] with more arguments after `--port 0`.
pub(crate) fn serve_on_free_port_with(program: &Path, args: &[&str]) -> Result<Server> {
    let mut child = Command::new(program)
        .args(["--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let stdout = child.stdout.take().context("the server's stdout")?;
    // From here on the guard kills it, whatever fails.
    let mut server = Server { child, port: 0 };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    server.port =
        line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).with_context(|| {
            format!("{} printed `{}`, not its address", program.display(), line.trim())
        })?;
    Ok(server)
}

/// Whether `program` can be found on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_arguments_with_spaces() {
        let mut cmd = Command::new("/usr/bin/node");
        cmd.args(["--test", "a b.test.mjs", ""]);
        assert_eq!(display(&cmd), "node --test 'a b.test.mjs' ''");
    }
}
