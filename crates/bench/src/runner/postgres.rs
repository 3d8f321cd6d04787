//! A throw-away PostgreSQL server for the chat benchmark: Debian's `postgresql` package, a
//! fresh cluster in a temporary directory, on a free port of 127.0.0.1, pinned beside the
//! servers, stopped by PID. As root it runs as the `postgres` user (PostgreSQL refuses root).
//! Unlike the tests' server it keeps PostgreSQL's durable defaults (`fsync`,
//! `synchronous_commit`), as the SQLite store keeps `synchronous = FULL`.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::{s, taskset};

/// How long a start may take.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server; stopped and its files removed when dropped.
pub(super) struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub(super) port: u16,
}

/// The newest installed server's `bin` directory.
fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): \
         `cargo xtask ensure-apt postgresql`",
    )
}

/// The uid and gid of the `postgres` user when running as root.
fn owner() -> Result<Option<(u32, u32)>> {
    let am_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !am_root {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .context("running as root, but there is no postgres user to run PostgreSQL as")?;
    let mut fields = line.split(':').skip(2);
    let mut id = || fields.next().and_then(|f| f.parse().ok()).context("a uid/gid in /etc/passwd");
    Ok(Some((id()?, id()?)))
}

impl Postgres {
    /// Creates a cluster and starts it on core `cpu`.
    pub(super) fn start(cpu: usize) -> Result<Postgres> {
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!("sb-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let owner = owner()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut pg = Postgres { bin, dir, owner, child: None, port };
        let status = pg
            .command(None, "initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D"])
            .arg(pg.dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running initdb")?;
        if !status.success() {
            bail!("initdb failed ({status})");
        }
        let mut child = pg
            .command(Some(cpu), "postgres")
            .arg("-D")
            .arg(pg.dir.join("data"))
            .args(["-p", &s(port), "-k"])
            .arg(&pg.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting postgres")?;
        let stderr = child.stderr.take().context("postgres stderr")?;
        pg.child = Some(child);
        // Readiness (or the first fatal line) from the log reader to this thread; the reader
        // owns the sender and keeps it until PostgreSQL's log ends.
        let (ready_tx, ready_rx) = mpsc::channel();
        // The log reader: reports readiness, then drains the log until PostgreSQL exits.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("ready to accept connections") {
                    let _ = ready_tx.send(Ok(()));
                } else if line.contains("FATAL") && !line.contains("the database system is") {
                    let _ = ready_tx.send(Err(line));
                }
            }
        });
        match ready_rx.recv_timeout(START_LIMIT) {
            Ok(Ok(())) => Ok(pg),
            Ok(Err(line)) => bail!("PostgreSQL did not start: {line}"),
            Err(_) => bail!("PostgreSQL did not start within {START_LIMIT:?}"),
        }
    }

    /// `bin/NAME`, as the `postgres` user when root, pinned to `cpu` if given.
    fn command(&self, cpu: Option<usize>, name: &str) -> Command {
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = taskset(cpu);
                c.arg(self.bin.join(name));
                c
            }
            None => Command::new(self.bin.join(name)),
        };
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&self.dir);
        cmd
    }

    /// A new empty database named `name`; its URL.
    pub(super) fn database(&self, name: &str) -> Result<String> {
        let status = self
            .command(None, "psql")
            .args(["-h", "127.0.0.1", "-p", &s(self.port), "-U", "postgres", "-d", "postgres"])
            .args(["-qc", &format!("CREATE DATABASE {name}")])
            .stdout(Stdio::null())
            .status()
            .context("running psql")?;
        if !status.success() {
            bail!("CREATE DATABASE {name} failed ({status})");
        }
        Ok(format!("postgres://postgres@127.0.0.1:{}/{name}", self.port))
    }

    /// The postmaster's process id (its backends are its children).
    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: PostgreSQL's fast shutdown. With taskset in front, the child is taskset's
            // exec of postgres: the same process.
            let _ = Command::new("kill").args(["-INT", &s(child.id())]).status();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
