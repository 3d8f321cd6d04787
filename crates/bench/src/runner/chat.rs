//! `switchboard-bench chat`: chat messages per second through the `switchboard` binary, one
//! node on SQLite, one node on PostgreSQL, three nodes on PostgreSQL and Redis. Every node,
//! the database and Redis run pinned to the servers' core, the generator (`chat-gen`) to its
//! own; each configuration is measured on fresh processes and a fresh database, the
//! configurations one after the other in each run, and the report gives medians over the runs.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use super::cluster::start_redis_on;
use super::postgres::Postgres;
use super::{s, taskset};
use crate::chat::ChatOutcome;
use crate::hist::median;
use crate::host::{DamonPause, Steal, loadavg, machine, today};

/// Options of `switchboard-bench chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatOptions {
    /// The workspace root (paths below are relative to it).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The `switchboard` server binary.
    #[arg(long, default_value = "target/release/switchboard")]
    pub server_bin: PathBuf,
    /// The Redis server binary of the three-node configuration.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// Configurations, in run order: `sqlite`, `postgres` (one node each), `cluster` (three
    /// nodes on PostgreSQL and Redis, adapter `redis`).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres,cluster")]
    pub configs: Vec<String>,
    /// Clients in the room (spread round-robin over the nodes).
    #[arg(long, default_value_t = 24)]
    pub clients: usize,
    /// Sends in flight per client.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Sending before the measurement starts, ms.
    #[arg(long, default_value_t = 1000)]
    pub warmup_ms: u64,
    /// The measurement, ms.
    #[arg(long, default_value_t = 5000)]
    pub duration_ms: u64,
    /// Repetitions (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Where `<date>-chat.md` goes (or `--name`).
    #[arg(long, default_value = "bench/results")]
    pub out_dir: PathBuf,
    /// The report's file name without `.md` (default `chat-<date>`).
    #[arg(long)]
    pub name: Option<String>,
    /// The core the servers, the database and Redis run on.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// The core the load generator runs on.
    #[arg(long, default_value_t = 1)]
    pub gen_cpu: usize,
}

/// A `switchboard` node; killed when dropped.
struct Node {
    child: Child,
    port: u16,
    data_dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Starts a node with `extra` arguments and reads its port from its `listening` line.
fn start_node(opts: &ChatOptions, tag: &str, extra: &[String]) -> Result<Node> {
    let data_dir = std::env::temp_dir().join(format!("sb-bench-chat-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir)?;
    let mut cmd = taskset(opts.server_cpu);
    cmd.arg(opts.root.join(&opts.server_bin))
        .args(["--port", "0", "--data-dir"])
        .arg(&data_dir)
        // No per-user send limit: the load is the point.
        .args(["--rate-limit", "1000000", "--rate-burst", "1000000"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().context("starting switchboard")?;
    let node_stdout = child.stdout.take().context("switchboard stdout")?;
    let mut node = Node { child, port: 0, data_dir };
    let mut lines = BufReader::new(node_stdout);
    let mut line = String::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while node.port == 0 {
        line.clear();
        if lines.read_line(&mut line)? == 0 || Instant::now() > deadline {
            bail!("switchboard {} exited or printed no `listening` line", extra.join(" "));
        }
        if let Some(addr) = line.trim().strip_prefix("Switchboard listening on http://") {
            node.port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        }
    }
    // Keeps draining stdout so that the node never blocks on a full pipe; ends at its exit.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = lines.read_to_end(&mut sink);
    });
    Ok(node)
}

/// Runs the generator against `nodes`; the CPU time of the nodes is counted as theirs.
fn run_chat_gen(
    opts: &ChatOptions,
    nodes: &[Node],
    helpers: &[u32],
    tag: &str,
) -> Result<ChatOutcome> {
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let pids: Vec<String> = nodes.iter().map(|n| s(n.child.id())).collect();
    let mut cmd = taskset(opts.gen_cpu);
    cmd.arg(std::env::current_exe()?).args([
        "chat-gen",
        "--nodes",
        &addrs.join(","),
        "--server-pid",
        &pids.join(","),
    ]);
    if !helpers.is_empty() {
        let helpers: Vec<String> = helpers.iter().map(s).collect();
        cmd.args(["--helper-pid", &helpers.join(",")]);
    }
    cmd.args(["--clients", &s(opts.clients), "--window", &s(opts.window)])
        .args(["--warmup-ms", &s(opts.warmup_ms), "--duration-ms", &s(opts.duration_ms)])
        .args(["--tag", tag]);
    let out = cmd.stdin(Stdio::null()).output().context("starting chat-gen")?;
    if !out.status.success() {
        bail!("chat-gen failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("chat-gen output")
}

/// One configuration on fresh processes.
fn measure(opts: &ChatOptions, config: &str, rep: usize) -> Result<ChatOutcome> {
    let tag = format!("r{rep}{config}");
    match config {
        "sqlite" => {
            let node = start_node(opts, &tag, &[])?;
            run_chat_gen(opts, std::slice::from_ref(&node), &[], &tag)
        }
        "postgres" => {
            let pg = Postgres::start(opts.server_cpu)?;
            let db = pg.database(&format!("bench_{tag}"))?;
            let node = start_node(opts, &tag, &[s("--database"), db])?;
            let helpers: Vec<u32> = pg.pid().into_iter().collect();
            let out = run_chat_gen(opts, std::slice::from_ref(&node), &helpers, &tag);
            drop(node);
            out
        }
        "cluster" => {
            let pg = Postgres::start(opts.server_cpu)?;
            let redis = start_redis_on(&opts.redis_server, opts.server_cpu)?;
            let db = pg.database(&format!("bench_{tag}"))?;
            let extra = [
                s("--database"),
                db,
                s("--redis"),
                format!("redis://127.0.0.1:{}", redis.port),
                s("--adapter"),
                s("redis"),
            ];
            let nodes = (0..3)
                .map(|i| start_node(opts, &format!("{tag}{i}"), &extra))
                .collect::<Result<Vec<_>>>()?;
            let mut helpers: Vec<u32> = pg.pid().into_iter().collect();
            helpers.push(redis.child.id());
            let out = run_chat_gen(opts, &nodes, &helpers, &tag);
            drop(nodes);
            out
        }
        other => bail!("unknown configuration `{other}` (sqlite, postgres, cluster)"),
    }
}

/// Runs every configuration `runs` times and writes the report.
///
/// # Errors
/// The server binary missing, or the report not written.
pub fn run(opts: &ChatOptions) -> Result<()> {
    let _ = crate::net::raise_nofile();
    let bin = opts.root.join(&opts.server_bin);
    if !bin.exists() {
        bail!("{} is missing: cargo build --release -p switchboard-server", bin.display());
    }
    let pinned = super::has_taskset();
    // Held for the whole run: restores the monitor when dropped, even on an error.
    let quiet = DamonPause::start();
    let load_before = loadavg();
    let steal_before = Steal::now();
    let started = Instant::now();
    let mut results: Vec<(String, Vec<ChatOutcome>)> =
        opts.configs.iter().map(|c| (c.clone(), Vec::new())).collect();
    let mut errors = Vec::new();
    for rep in 0..opts.runs {
        for (config, outcomes) in &mut results {
            eprintln!(
                "bench: chat run {}/{}: {config} ({:.0?})",
                rep + 1,
                opts.runs,
                started.elapsed()
            );
            match measure(opts, config, rep) {
                Ok(o) => outcomes.push(o),
                Err(e) => {
                    let msg = format!("run {rep}, {config}: {e:#}");
                    eprintln!("bench: {msg}");
                    errors.push(msg);
                }
            }
        }
    }
    let mut machine_line = machine();
    if quiet.paused {
        machine_line.push_str("; the kernel's DAMON memory monitor (kdamond) paused for the run");
    }
    let steal = Steal::now().describe_since(&steal_before);
    if !steal.is_empty() {
        machine_line.push_str("; time stolen by the hypervisor during the run: ");
        machine_line.push_str(&steal);
    }
    let meta = Meta {
        date: today(),
        machine: machine_line,
        pinned,
        load: format!("{load_before} before, {} after", loadavg()),
        elapsed_s: started.elapsed().as_secs(),
        errors,
    };
    let text = report(opts, &meta, &results);
    let out_dir = opts.root.join(&opts.out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let name = opts.name.clone().unwrap_or_else(|| format!("chat-{}", meta.date));
    let md = out_dir.join(format!("{name}.md"));
    std::fs::write(&md, text)?;
    let json = serde_json::to_string_pretty(
        &results.iter().map(|(c, o)| (c.as_str(), o)).collect::<Vec<_>>(),
    )?;
    std::fs::write(out_dir.join(format!("{name}.json")), json + "\n")?;
    println!("bench: wrote {}", md.display());
    Ok(())
}

/// What the report says about the run itself.
struct Meta {
    date: String,
    machine: String,
    pinned: bool,
    load: String,
    elapsed_s: u64,
    errors: Vec<String>,
}

/// What a configuration is, in the report.
fn describe(config: &str) -> &str {
    match config {
        "sqlite" => "1 node, SQLite",
        "postgres" => "1 node, PostgreSQL",
        "cluster" => "3 nodes, PostgreSQL + Redis (`redis` adapter)",
        other => other,
    }
}

/// The median of `f` over `outcomes`.
fn med(outcomes: &[ChatOutcome], f: impl Fn(&ChatOutcome) -> Option<f64>) -> Option<f64> {
    median(&outcomes.iter().filter_map(f).collect::<Vec<_>>())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The ratio `a / b` of two medians, as text.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

/// The Markdown report.
fn report(opts: &ChatOptions, meta: &Meta, results: &[(String, Vec<ChatOutcome>)]) -> String {
    let mut out = format!("# Chat messages per second, {}\n\n", meta.date);
    out.push_str(&format!(
        "`switchboard-bench chat`: {} clients log into `/chat` of the `switchboard` binary \
         (release build), join one room and send `message:send` with an ack (answered after \
         the store commit), {} in flight per client; every member, the sender included, \
         receives each message as `message:new`. {} ms of warm-up, then {} ms measured; {} \
         runs, each configuration on fresh processes and a fresh database; medians below, \
         every run's value in the last column. The three nodes run on the same machine: read \
         them as the cost of the cluster path (Redis, the adapter, three processes on one \
         core), not as scaling.\n\n",
        opts.clients, opts.window, opts.warmup_ms, opts.duration_ms, opts.runs
    ));
    out.push_str(&format!(
        "Machine: {}. {}Load average {}. {} s in all.\n\n",
        meta.machine,
        if meta.pinned {
            format!(
                "Nodes, PostgreSQL and Redis pinned to core {}, the generator to core {}. ",
                opts.server_cpu, opts.gen_cpu
            )
        } else {
            "Not pinned (no taskset). ".to_owned()
        },
        meta.load,
        meta.elapsed_s
    ));
    out.push_str(
        "| Configuration | acked msg/s | delivered msg/s | ack p50 ms | ack p99 ms | acked msg per node CPU-s | acked msg per server-side CPU-s | lost | acked msg/s per run |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (config, o) in results {
        let lost: u64 = o
            .iter()
            .map(|x| (x.acked_total * x.clients as u64).saturating_sub(x.delivered_total))
            .sum();
        let runs: Vec<String> = o.iter().map(|x| format!("{:.0}", x.acks_per_sec)).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            describe(config),
            fmt(med(o, |x| Some(x.acks_per_sec)), 0),
            fmt(med(o, |x| Some(x.deliveries_per_sec)), 0),
            fmt(med(o, |x| Some(x.ack_latency.p50_us / 1000.0)), 2),
            fmt(med(o, |x| Some(x.ack_latency.p99_us / 1000.0)), 2),
            fmt(med(o, |x| x.acks_per_node_cpu_s), 0),
            fmt(med(o, |x| x.acks_per_server_cpu_s), 0),
            lost,
            runs.join(", ")
        ));
    }
    let acks = |c: &str| {
        results.iter().find(|(n, _)| n == c).and_then(|(_, o)| med(o, |x| Some(x.acks_per_sec)))
    };
    let per_cpu = |c: &str| {
        results.iter().find(|(n, _)| n == c).and_then(|(_, o)| med(o, |x| x.acks_per_server_cpu_s))
    };
    out.push_str(&format!(
        "\nRatios of the medians (acked msg/s; per server-side CPU-second in brackets): PostgreSQL vs \
         SQLite, one node: {} ({}); three nodes vs one, PostgreSQL: {} ({}).\n\n\
         \"Server-side CPU\" is the CPU time of the nodes, PostgreSQL (every process of it) and \
         Redis together over the measured window; on one node with SQLite it is the node's own. \
         On a shared machine it holds up better than messages per second, which depend on how \
         much of the core the servers got. \"lost\" counts deliveries missing after the drain \
         (every acknowledged message times every member, summed over the runs): 0 means every \
         member got every message.\n",
        ratio(acks("postgres"), acks("sqlite")),
        ratio(per_cpu("postgres"), per_cpu("sqlite")),
        ratio(acks("cluster"), acks("postgres")),
        ratio(per_cpu("cluster"), per_cpu("postgres")),
    ));
    if !meta.errors.is_empty() {
        out.push_str("\nFailed measurements:\n\n");
        for e in &meta.errors {
            out.push_str(&format!("- {e}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_of_medians() {
        assert_eq!(ratio(Some(50.0), Some(100.0)), "0.50×");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
        assert_eq!(ratio(None, Some(1.0)), "–");
        assert_eq!(fmt(Some(1.234), 2), "1.23");
        assert_eq!(fmt(None, 0), "–");
    }
}
