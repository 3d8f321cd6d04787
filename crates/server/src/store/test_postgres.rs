//! A throw-away PostgreSQL server for the tests: Debian's `postgresql` package, a fresh
//! cluster in a temporary directory, listening on 127.0.0.1 on a free port, stopped by PID.
//! As root it runs as the `postgres` user (PostgreSQL refuses root).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a start may take.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server; stopped and removed on drop.
pub(crate) struct TestPostgres {
    bin: PathBuf,
    dir: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    port: u16,
}

/// The newest installed server's `bin` directory.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("postgres").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run \
             `cargo xtask ensure-apt postgresql`, or `cargo xtask test`, which does"
        ),
    }
}

/// The uid and gid of the `postgres` user, when running as root.
fn owner() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let am_root = std::fs::metadata("/proc/self")
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if !am_root {
        return None;
    }
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let mut fields = line.split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl TestPostgres {
    /// Creates a cluster and starts it.
    pub(crate) fn start() -> TestPostgres {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("sb-pg-{}", super::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let owner = owner();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let mut pg = TestPostgres { bin, dir, owner, child: None, port: free_port() };
        let status = pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
            .arg("-D")
            .arg(pg.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        pg.run();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Starts the server on the cluster and waits until it accepts connections.
    pub(crate) fn run(&mut self) {
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "full_page_writes=off", "-c", "logging_collector=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        self.child = Some(child);
        // Reads the log until the server is ready, then drains it so it never blocks.
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("ready to accept connections") {
                    let _ = ready_tx.send(Ok(()));
                } else if line.contains("FATAL") && !line.contains("the database system is") {
                    // (Clients connecting during a restart get "the database system is
                    // starting up": not a failure of the server.)
                    let _ = ready_tx.send(Err(line));
                }
            }
        });
        match ready_rx.recv_timeout(START_LIMIT) {
            Ok(Ok(())) => {}
            Ok(Err(line)) => panic!("PostgreSQL did not start: {line}"),
            Err(_) => panic!("PostgreSQL did not start within {START_LIMIT:?}"),
        }
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT: PostgreSQL's fast shutdown (ends sessions, then exits).
            let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port and data.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// A new empty database; its URL.
    pub(crate) fn database(&self) -> String {
        let name = format!("t{}", super::new_id());
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls).unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        self.url(&name)
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
        remove(&self.dir);
    }
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}
