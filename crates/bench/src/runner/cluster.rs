//! The cross-node step: a Redis server of its own and two nodes of one server on it.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{Options, Step, run_gen, s, start_server_with, taskset};
use crate::results::Outcome;

/// A Redis server of a cross-node step, on a free port of 127.0.0.1, with no persistence;
/// killed when dropped.
pub(super) struct Redis {
    pub(super) child: Child,
    pub(super) port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a Redis server pinned beside the servers, and waits until it accepts connections.
fn start_redis(opts: &Options) -> Result<Redis> {
    start_redis_on(&opts.redis_server, opts.server_cpu)
}

/// Starts the Redis server `bin` pinned to core `cpu`, and waits until it accepts
/// connections.
pub(super) fn start_redis_on(bin: &Path, cpu: usize) -> Result<Redis> {
    // A free port: the kernel's pick, released just before Redis binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut cmd = taskset(cpu);
    cmd.arg(bin)
        .args(["--port", &s(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {} (apt-get install redis-server)", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("redis-server exited ({status}) before accepting connections");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("redis-server did not accept connections on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Redis { child, port })
}

/// A cross-node step: a Redis server, two `name` nodes on its `adapter`; the receivers on
/// the second node, the broadcasts sent to the first.
pub(super) fn measure(
    opts: &Options,
    step: &Step,
    name: &str,
    adapter: &str,
) -> Result<Vec<Outcome>> {
    let redis = start_redis(opts)?;
    let extra =
        [s("--redis"), format!("redis://127.0.0.1:{}", redis.port), s("--adapter"), s(adapter)];
    let (a, b) = (start_server_with(opts, name, &extra)?, start_server_with(opts, name, &extra)?);
    let pids = format!("{},{}", a.child.id(), b.child.id());
    let mut args = step.args.clone();
    args.extend([s("--trigger-addr"), format!("127.0.0.1:{}", a.port), s("--adapter"), s(adapter)]);
    let mut with_redis = vec![s("--redis-pid"), s(redis.child.id())];
    // `gen` options come before the scenario's name.
    with_redis.extend(args);
    run_gen(opts, b.port, &pids, &with_redis)
}
