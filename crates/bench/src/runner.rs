//! The side-by-side runner: starts each server pinned to one core, runs the generator pinned to
//! another, alternates servers run by run (A/B/C, A/B/C, ...), then writes the report.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::host::{DamonPause, Steal, loadavg, machine, today};
use crate::report::{self, Samples};
use crate::results::Outcome;

/// Options of `switchboard-bench run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// A short run: one repetition, fewer connections, shorter scenarios.
    #[arg(long)]
    pub quick: bool,
    /// Repetitions of the whole suite (medians are reported); default 3, 1 with `--quick`.
    #[arg(long)]
    pub runs: Option<usize>,
    /// Servers to compare, in run order.
    #[arg(long, value_delimiter = ',', default_value = "switchboard,socketioxide,node")]
    pub servers: Vec<String>,
    /// The workspace root (paths below are relative to it).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Our bench example binary.
    #[arg(long, default_value = "target/release/examples/bench")]
    pub switchboard_bin: PathBuf,
    /// The socketioxide bench server binary.
    #[arg(long, default_value = "target/socketioxide/release/socketioxide-bench-server")]
    pub socketioxide_bin: PathBuf,
    /// The Node socket.io bench server script.
    #[arg(long, default_value = "bench/servers/node-bench.mjs")]
    pub node_script: PathBuf,
    /// Where `<date>.md`, `<date>.json` and the charts go.
    #[arg(long, default_value = "bench/results")]
    pub out_dir: PathBuf,
    /// The README whose marked section gets the table (empty: leave it alone).
    #[arg(long, default_value = "README.md")]
    pub readme: PathBuf,
    /// The core the servers run on.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// The core the load generator runs on.
    #[arg(long, default_value_t = 1)]
    pub gen_cpu: usize,
}

/// Scenario sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Idle levels.
    pub idle_levels: Vec<usize>,
    /// Idle settle time, ms.
    pub settle_ms: u64,
    /// Storm size.
    pub storm: usize,
    /// Broadcast receiver counts.
    pub bc_conns: Vec<usize>,
    /// Broadcasts in flight.
    pub bc_inflight: Vec<usize>,
    /// Fixed echo rates offered.
    pub echo_rates: Vec<f64>,
    /// Length of each timed scenario, ms.
    pub duration_ms: u64,
}

impl Plan {
    /// The full or the quick plan.
    #[must_use]
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                idle_levels: vec![1000, 5000],
                settle_ms: 1000,
                storm: 2000,
                bc_conns: vec![1000, 10000],
                bc_inflight: vec![1, 16],
                echo_rates: vec![10_000.0, 40_000.0],
                duration_ms: 1000,
            }
        } else {
            Self {
                idle_levels: vec![1000, 5000, 10000, 19000],
                settle_ms: 2000,
                storm: 5000,
                bc_conns: vec![1000, 10000],
                bc_inflight: vec![1, 4, 16],
                echo_rates: vec![10_000.0, 20_000.0, 40_000.0, 80_000.0, 160_000.0],
                duration_ms: 3000,
            }
        }
    }
}

/// A server process under test.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn taskset(cpu: usize) -> Command {
    if crate::runner::has_taskset() {
        let mut c = Command::new("taskset");
        c.args(["-c", &cpu.to_string()]);
        c
    } else {
        // Without taskset the processes share the cores; the report says so.
        Command::new("env")
    }
}

/// Whether `taskset` can be run.
#[must_use]
pub fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_server(opts: &Options, name: &str) -> Result<Server> {
    let mut cmd = taskset(opts.server_cpu);
    match name {
        "switchboard" => cmd.arg(opts.root.join(&opts.switchboard_bin)),
        "socketioxide" => cmd.arg(opts.root.join(&opts.socketioxide_bin)),
        "node" => cmd.arg("node").arg(opts.root.join(&opts.node_script)),
        "raw" => cmd.arg(std::env::current_exe()?).arg("raw-server"),
        "raw-batched" => cmd.arg(std::env::current_exe()?).args(["raw-server", "--batched"]),
        other => bail!("unknown server `{other}`"),
    };
    cmd.args(["--port", "0"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().with_context(|| format!("starting the {name} server"))?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    lines.read_line(&mut line)?;
    let port =
        line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).with_context(|| {
            format!("the {name} server printed `{}`, not its address", line.trim())
        })?;
    // Keep draining stdout so that the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = lines.read_to_end(&mut sink);
    });
    Ok(Server { child, port })
}

/// Runs the generator with `args`; gives the outcomes it printed.
fn run_gen(opts: &Options, srv: &Server, args: &[String]) -> Result<Vec<Outcome>> {
    let mut cmd = taskset(opts.gen_cpu);
    cmd.arg(std::env::current_exe()?)
        .args(["gen", "--addr", &format!("127.0.0.1:{}", srv.port)])
        .args(["--server-pid", &srv.child.id().to_string()])
        .args(args);
    let out = cmd.stdin(Stdio::null()).output().context("starting the generator")?;
    if !out.status.success() {
        bail!(
            "generator {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).context("generator output"))
        .collect()
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// One repetition of every scenario against server `name`; results go into `samples`.
fn suite(
    opts: &Options,
    plan: &Plan,
    name: &str,
    rep: usize,
    samples: &mut Samples,
    log: &mut Vec<String>,
) {
    let dur = s(plan.duration_ms);
    let mut record = |samples: &mut Samples, res: Result<Vec<Outcome>>, what: &str| match res {
        Ok(outcomes) => {
            for o in &outcomes {
                report::add(samples, name, o);
            }
        }
        Err(e) => {
            let msg = format!("run {rep}, {name}, {what}: {e:#}");
            eprintln!("bench: {msg}");
            log.push(msg);
        }
    };
    let raw = name.starts_with("raw");
    if !raw {
        // Idle memory on a fresh process, so that earlier scenarios do not inflate its RSS.
        let res = start_server(opts, name).and_then(|srv| {
            let levels =
                plan.idle_levels.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
            let pid = srv.child.id();
            run_gen(
                opts,
                &srv,
                &[
                    s("idle"),
                    s("--pid"),
                    s(pid),
                    s("--levels"),
                    levels,
                    s("--settle-ms"),
                    s(plan.settle_ms),
                ],
            )
        });
        record(samples, res, "idle");
    }
    let srv = match start_server(opts, name) {
        Ok(srv) => srv,
        Err(e) => {
            log.push(format!("run {rep}, {name}: {e:#}"));
            return;
        }
    };
    if !raw {
        let offset = s(rep * 7919 % 1000);
        record(
            samples,
            run_gen(
                opts,
                &srv,
                &[s("storm"), s("--conns"), s(plan.storm), s("--source-offset"), offset],
            ),
            "storm",
        );
    }
    for &conns in &plan.bc_conns {
        for &inflight in &plan.bc_inflight {
            let args = [
                s("broadcast"),
                s("--conns"),
                s(conns),
                s("--inflight"),
                s(inflight),
                s("--duration-ms"),
                dur.clone(),
            ];
            record(samples, run_gen(opts, &srv, &args), "broadcast");
        }
    }
    if raw {
        return;
    }
    record(
        samples,
        run_gen(opts, &srv, &[s("polling"), s("--duration-ms"), dur.clone()]),
        "polling",
    );
    let max = run_gen(opts, &srv, &[s("echo-max"), s("--duration-ms"), dur.clone()]);
    let sat = match &max {
        Ok(o) => o.iter().find_map(|o| {
            if let Outcome::Echo { acks_per_sec, .. } = o { Some(*acks_per_sec) } else { None }
        }),
        Err(_) => None,
    };
    record(samples, max, "echo-max");
    for &rate in &plan.echo_rates {
        // Far past saturation the numbers only measure the queue: skip (the report says so).
        if sat.is_some_and(|sat| rate > 2.0 * sat)
            && rate > plan.echo_rates.first().copied().unwrap_or(0.0)
        {
            continue;
        }
        let args = [s("echo"), s("--rate"), s(rate), s("--duration-ms"), dur.clone()];
        record(samples, run_gen(opts, &srv, &args), "echo");
    }
    drop(srv);
}

/// Runs everything and writes the report.
///
/// # Errors
/// A missing server binary, or writing the report failing.
pub fn run(opts: &Options) -> Result<()> {
    let nofile = crate::net::raise_nofile();
    let plan = Plan::new(opts.quick);
    let runs = opts.runs.unwrap_or(if opts.quick { 1 } else { 3 });
    for name in &opts.servers {
        let path = match name.as_str() {
            "switchboard" => opts.root.join(&opts.switchboard_bin),
            "socketioxide" => opts.root.join(&opts.socketioxide_bin),
            "node" => opts.root.join(&opts.node_script),
            other => bail!("unknown server `{other}` (switchboard, socketioxide, node)"),
        };
        if !path.exists() {
            bail!("{} is missing (`cargo xtask bench` builds it)", path.display());
        }
    }
    let pinned = has_taskset();
    // Held for the whole run: restores the monitor when dropped, even on an error.
    let quiet = DamonPause::start();
    let load_before = loadavg();
    let steal_before = Steal::now();
    let started = Instant::now();
    let mut samples = Samples::default();
    let mut log = Vec::new();
    let mut order: Vec<String> = opts.servers.clone();
    order.extend([s("raw"), s("raw-batched")]);
    for rep in 0..runs {
        for name in &order {
            eprintln!("bench: run {}/{runs}: {name} ({:.0?} so far)", rep + 1, started.elapsed());
            suite(opts, &plan, name, rep, &mut samples, &mut log);
        }
    }
    let meta = report::Meta {
        date: today(),
        runs,
        quick: opts.quick,
        pinned,
        nofile,
        servers: opts.servers.clone(),
        machine: describe_machine(quiet.paused, &Steal::now().describe_since(&steal_before)),
        elapsed: started.elapsed(),
        errors: log,
        load: format!("{load_before} before, {} after", loadavg()),
    };
    let out_dir = opts.root.join(&opts.out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let written = report::write(&out_dir, &meta, &plan, &samples)?;
    if !opts.readme.as_os_str().is_empty() {
        report::update_readme(
            &opts.root.join(&opts.readme),
            &written.table,
            &written.md_rel(&opts.out_dir),
        )?;
    }
    println!("bench: wrote {}", written.md.display());
    Ok(())
}

/// The machine line of the report: CPU, Node, what was quieted, and the steal time seen.
fn describe_machine(damon_paused: bool, steal: &str) -> String {
    let mut m = machine();
    if damon_paused {
        m.push_str("; the kernel's DAMON memory monitor (kdamond) paused for the run");
    }
    if !steal.is_empty() {
        m.push_str("; time stolen by the hypervisor during the run: ");
        m.push_str(steal);
    }
    m
}

/// Groups samples by server, then metric key.
pub type ByServer = BTreeMap<String, BTreeMap<String, Vec<f64>>>;
