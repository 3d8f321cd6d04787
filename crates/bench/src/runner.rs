//! The side-by-side runner: starts each server pinned to one core, runs the generator pinned to
//! another, takes each scenario on every server in turn (A/B/C, then the next scenario, each on
//! a fresh server process), repeats the whole for each run, then writes the report.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

pub mod chat;
mod cluster;
pub mod nosticky;
mod nosticky_ws;
mod postgres;

use crate::host::{DamonPause, Steal, loadavg, machine, today};
use crate::report::{self, Samples};
use crate::results::Outcome;
use crate::stall::{self, Stalls};
use crate::wire::Wire;

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
    /// The README whose marked section gets the table.
    #[arg(long, default_value = "README.md")]
    pub readme: PathBuf,
    /// Leave the README alone (a partial run, e.g. with `--only`).
    #[arg(long)]
    pub no_readme: bool,
    /// The cluster adapters of the cross-node broadcast (`redis`, `sharded`, `streams`; each
    /// server runs two nodes on its official adapter of that kind and a Redis server of its
    /// own). The default compares the pub/sub and the Streams adapters.
    #[arg(long, value_delimiter = ',', default_value = "redis,streams")]
    pub cluster_adapters: Vec<String>,
    /// Leave the cross-node broadcast out (no Redis server needed).
    #[arg(long)]
    pub no_cluster: bool,
    /// Take only these steps (`idle`, `idle-polling`, `storm`, `storm-default`, `broadcast`,
    /// `broadcast-binary`, `cross-node`, `polling`,
    /// `echo-max`, `echo`); all when empty. The report shows what was measured.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The Redis server binary of the cross-node broadcast.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// The core the servers run on.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// The core the load generator runs on.
    #[arg(long, default_value_t = 1)]
    pub gen_cpu: usize,
    /// The Socket.IO packet format of every server and of the generator: `json` or `msgpack`
    /// (`socket.io-msgpack-parser`; servers without it and the raw ceilings are left out).
    #[arg(long, value_enum, default_value_t = Wire::Json)]
    pub parser: Wire,
}

/// The steps measured with the JSON parser only.
const JSON_ONLY_STEPS: &[&str] = &["storm-default", "broadcast-binary"];

/// The servers whose bench server takes `--parser msgpack`.
const MSGPACK_SERVERS: &[&str] = &["switchboard", "node"];

/// Scenario sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Idle levels.
    pub idle_levels: Vec<usize>,
    /// Idle long-polling levels.
    pub idle_polling_levels: Vec<usize>,
    /// Idle settle time, ms.
    pub settle_ms: u64,
    /// Storm size.
    pub storm: usize,
    /// Default-mode storm size (each client: three connections).
    pub storm_default: usize,
    /// Polling client counts.
    pub polling_clients: Vec<usize>,
    /// The rate the paced polling step offers with each client count (echoes per second in
    /// all): the round trips of two servers compared at the same rate.
    pub polling_rate: f64,
    /// Broadcast receiver counts.
    pub bc_conns: Vec<usize>,
    /// Broadcasts in flight.
    pub bc_inflight: Vec<usize>,
    /// Receivers of the binary broadcast.
    pub bcbin_conns: usize,
    /// Binary broadcasts in flight.
    pub bcbin_inflight: Vec<usize>,
    /// Fixed echo rates offered.
    pub echo_rates: Vec<f64>,
    /// Length of each timed scenario, ms.
    pub duration_ms: u64,
    /// Length of each run's stall probe, ms.
    pub stall_probe_ms: u64,
    /// The cluster adapters of the cross-node broadcast (none: not measured).
    pub cluster_adapters: Vec<String>,
    /// Receivers of the cross-node broadcast, on the second node.
    pub xbc_conns: usize,
    /// Cross-node broadcasts in flight.
    pub xbc_inflight: Vec<usize>,
}

/// The paced polling rate: about half of what socketioxide's polling reaches at saturation
/// on the reference machine, so that both Rust servers are measured below saturation.
const POLLING_RATE: f64 = 20_000.0;

impl Plan {
    /// The full or the quick plan.
    #[must_use]
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                idle_levels: vec![1000, 5000],
                idle_polling_levels: vec![1000],
                settle_ms: 1000,
                storm: 2000,
                storm_default: 500,
                polling_clients: vec![50, 500],
                polling_rate: POLLING_RATE,
                bc_conns: vec![1000, 10000],
                bc_inflight: vec![1, 16],
                bcbin_conns: 1000,
                bcbin_inflight: vec![16],
                echo_rates: vec![10_000.0, 40_000.0],
                duration_ms: 1000,
                stall_probe_ms: 500,
                cluster_adapters: Vec::new(),
                xbc_conns: 1000,
                xbc_inflight: vec![16],
            }
        } else {
            Self {
                idle_levels: vec![1000, 5000, 10000, 19000],
                idle_polling_levels: vec![1000, 5000],
                settle_ms: 2000,
                storm: 5000,
                storm_default: 2000,
                polling_clients: vec![50, 500],
                polling_rate: POLLING_RATE,
                bc_conns: vec![1000, 10000],
                bc_inflight: vec![1, 4, 16],
                bcbin_conns: 1000,
                bcbin_inflight: vec![1, 16],
                echo_rates: vec![10_000.0, 20_000.0, 40_000.0, 80_000.0, 160_000.0],
                duration_ms: 3000,
                stall_probe_ms: 2000,
                cluster_adapters: Vec::new(),
                xbc_conns: 1000,
                xbc_inflight: vec![1, 16],
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
    start_server_with(opts, name, &[])
}

/// Starts `name` with `extra` arguments (a cluster node's `--redis URL --adapter KIND`).
fn start_server_with(opts: &Options, name: &str, extra: &[String]) -> Result<Server> {
    let mut cmd = taskset(opts.server_cpu);
    match name {
        "switchboard" => cmd.arg(opts.root.join(&opts.switchboard_bin)),
        "socketioxide" => cmd.arg(opts.root.join(&opts.socketioxide_bin)),
        "node" => cmd.arg("node").arg(opts.root.join(&opts.node_script)),
        "raw" => cmd.arg(std::env::current_exe()?).arg("raw-server"),
        "raw-batched" => cmd.arg(std::env::current_exe()?).args(["raw-server", "--batched"]),
        other => bail!("unknown server `{other}`"),
    };
    cmd.args(["--port", "0"]).args(extra);
    if opts.parser != Wire::Json {
        cmd.args(["--parser", opts.parser.as_str()]);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
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

/// Runs the generator against the server on `port` with `args`, the CPU time of `pids`
/// (comma-separated) counted as the server's; gives the outcomes it printed.
fn run_gen(opts: &Options, port: u16, pids: &str, args: &[String]) -> Result<Vec<Outcome>> {
    let mut cmd = taskset(opts.gen_cpu);
    cmd.arg(std::env::current_exe()?)
        .args(["gen", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--server-pid", pids])
        .args(["--parser", opts.parser.as_str()])
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

/// One measurement of a repetition, taken on every server in turn, each on a fresh process.
struct Step {
    /// What the log calls it.
    what: &'static str,
    /// The generator's arguments; [`PID`] stands for the server's process id.
    args: Vec<String>,
    /// The raw TCP ceilings take part (broadcast only).
    raw_too: bool,
    /// A fixed echo rate: skipped for a server whose saturation this repetition is far below.
    rate: Option<f64>,
    /// A cross-node step on this cluster adapter: two nodes and a Redis server of their own,
    /// for the servers that have an adapter of that kind (ours and Node's).
    cluster: Option<String>,
}

/// The servers with an official Redis adapter (socketioxide's speaks its own protocol).
const CLUSTER_SERVERS: &[&str] = &["switchboard", "node"];

/// Stands for the server's process id in [`Step::args`].
const PID: &str = "{pid}";

/// Every step of repetition `rep`, in order: each server measures a step right after the
/// others, so the ratios compare servers minutes apart at most, not a whole suite apart (the
/// speed of a shared machine drifts). `echo-max` comes before the fixed rates, which use its
/// result.
fn steps(plan: &Plan, rep: usize) -> Vec<Step> {
    let step =
        |what, args: Vec<String>| Step { what, args, raw_too: false, rate: None, cluster: None };
    let dur = s(plan.duration_ms);
    let levels = plan.idle_levels.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut out = vec![
        step(
            "idle",
            vec![
                s("idle"),
                s("--pid"),
                s(PID),
                s("--levels"),
                levels,
                s("--settle-ms"),
                s(plan.settle_ms),
            ],
        ),
        step(
            "idle-polling",
            vec![
                s("idle-polling"),
                s("--pid"),
                s(PID),
                s("--levels"),
                plan.idle_polling_levels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                s("--settle-ms"),
                s(plan.settle_ms),
            ],
        ),
        step(
            "storm",
            vec![
                s("storm"),
                s("--conns"),
                s(plan.storm),
                s("--source-offset"),
                s(rep * 7919 % 1000),
            ],
        ),
    ];
    for &conns in &plan.bc_conns {
        for &inflight in &plan.bc_inflight {
            out.push(Step {
                raw_too: true,
                ..step(
                    "broadcast",
                    vec![
                        s("broadcast"),
                        s("--conns"),
                        s(conns),
                        s("--inflight"),
                        s(inflight),
                        s("--duration-ms"),
                        dur.clone(),
                    ],
                )
            });
        }
    }
    for &inflight in &plan.bcbin_inflight {
        out.push(step(
            "broadcast-binary",
            vec![
                s("broadcast"),
                s("--conns"),
                s(plan.bcbin_conns),
                s("--inflight"),
                s(inflight),
                s("--duration-ms"),
                dur.clone(),
                s("--binary"),
            ],
        ));
    }
    for adapter in &plan.cluster_adapters {
        for &inflight in &plan.xbc_inflight {
            out.push(Step {
                cluster: Some(adapter.clone()),
                ..step(
                    "cross-node",
                    vec![
                        s("broadcast"),
                        s("--conns"),
                        s(plan.xbc_conns),
                        s("--inflight"),
                        s(inflight),
                        s("--duration-ms"),
                        dur.clone(),
                    ],
                )
            });
        }
    }
    out.push(step(
        "storm-default",
        vec![
            s("storm-default"),
            s("--conns"),
            s(plan.storm_default),
            s("--source-offset"),
            s(rep * 7919 % 1000),
        ],
    ));
    for &clients in &plan.polling_clients {
        out.push(step(
            "polling",
            vec![s("polling"), s("--clients"), s(clients), s("--duration-ms"), dur.clone()],
        ));
        out.push(step(
            "polling",
            vec![
                s("polling"),
                s("--clients"),
                s(clients),
                s("--rate"),
                s(plan.polling_rate),
                s("--duration-ms"),
                dur.clone(),
            ],
        ));
    }
    out.push(step("echo-max", vec![s("echo-max"), s("--duration-ms"), dur.clone()]));
    for &rate in &plan.echo_rates {
        out.push(Step {
            rate: Some(rate),
            ..step("echo", vec![s("echo"), s("--rate"), s(rate), s("--duration-ms"), dur.clone()])
        });
    }
    out
}

/// Takes one step on a fresh `name` server; results go into `samples`, echo saturation into
/// `sat`, failures into `log`.
fn measure(
    opts: &Options,
    step: &Step,
    name: &str,
    rep: usize,
    samples: &mut Samples,
    sat: &mut BTreeMap<String, f64>,
    log: &mut Vec<String>,
) {
    let res = match &step.cluster {
        None => start_server(opts, name).and_then(|srv| {
            let pid = s(srv.child.id());
            let args: Vec<String> =
                step.args.iter().map(|a| if a == PID { pid.clone() } else { a.clone() }).collect();
            run_gen(opts, srv.port, &pid, &args)
        }),
        Some(adapter) => cluster::measure(opts, step, name, adapter),
    };
    match res {
        Ok(outcomes) => {
            for o in &outcomes {
                report::add(samples, name, o);
                if let (Outcome::Echo { acks_per_sec, .. }, "echo-max") = (o, step.what) {
                    sat.insert(name.to_owned(), *acks_per_sec);
                }
            }
        }
        Err(e) => {
            let msg = format!("run {rep}, {name}, {}: {e:#}", step.what);
            eprintln!("bench: {msg}");
            log.push(msg);
        }
    }
}

/// Whether a fixed `rate` is so far past `name`'s saturation that it would only measure the
/// queue (the lowest rate is always run; the report marks saturated rows).
fn past_saturation(plan: &Plan, sat: &BTreeMap<String, f64>, name: &str, rate: f64) -> bool {
    sat.get(name).is_some_and(|&sat| rate > 2.0 * sat)
        && rate > plan.echo_rates.first().copied().unwrap_or(0.0)
}

/// Runs everything and writes the report.
///
/// # Errors
/// A missing server binary, or writing the report failing.
pub fn run(opts: &Options) -> Result<()> {
    let nofile = crate::net::raise_nofile();
    let mut plan = Plan::new(opts.quick);
    if !opts.no_cluster {
        plan.cluster_adapters = opts.cluster_adapters.clone();
    }
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
    let mut servers = opts.servers.clone();
    if opts.parser == Wire::Msgpack {
        servers.retain(|name| {
            let speaks = MSGPACK_SERVERS.contains(&name.as_str());
            if !speaks {
                log.push(format!("{name}: left out, its bench server speaks JSON only"));
            }
            speaks
        });
    }
    let mut order: Vec<String> = servers.clone();
    // The raw ceilings write JSON text only.
    if opts.parser == Wire::Json {
        order.extend([s("raw"), s("raw-batched")]);
    }
    // Per run: what a bare busy loop saw on the server's and the generator's core.
    let mut stalls: Vec<[Stalls; 2]> = Vec::new();
    for rep in 0..runs {
        // Each server's echo saturation in this repetition.
        let mut sat = BTreeMap::new();
        let mut probed = false;
        // The default-mode storm and the binary broadcast speak the JSON parser only.
        let speaks =
            |step: &Step| opts.parser == Wire::Json || !JSON_ONLY_STEPS.contains(&step.what);
        let wanted = |step: &Step| {
            speaks(step) && (opts.only.is_empty() || opts.only.iter().any(|o| o == step.what))
        };
        for step in steps(&plan, rep).into_iter().filter(wanted) {
            if step.rate.is_some() && !probed {
                // Right before the fixed-rate echo steps, whose tails these stalls bound; once
                // per run, even if it failed (logged).
                probed = true;
                match probe_cores(opts, &plan) {
                    Ok(both) => stalls.push(both),
                    Err(e) => log.push(format!("run {rep}, stall probe: {e:#}")),
                }
            }
            eprintln!(
                "bench: run {}/{runs}: {} {} ({:.0?} so far)",
                rep + 1,
                step.what,
                step.args.get(1..).unwrap_or_default().join(" "),
                started.elapsed()
            );
            let takes_part = |n: &&String| {
                if step.cluster.is_some() {
                    CLUSTER_SERVERS.contains(&n.as_str())
                } else {
                    step.raw_too || !n.starts_with("raw")
                }
            };
            for name in order.iter().filter(takes_part) {
                if step.rate.is_some_and(|r| past_saturation(&plan, &sat, name, r)) {
                    continue;
                }
                measure(opts, &step, name, rep, &mut samples, &mut sat, &mut log);
            }
        }
    }
    let meta = report::Meta {
        date: today(),
        runs,
        quick: opts.quick,
        pinned,
        nofile,
        servers,
        parser: opts.parser.as_str().to_owned(),
        machine: describe_machine(
            quiet.paused,
            &Steal::now().describe_since(&steal_before),
            &describe_stalls(opts, &plan, &stalls),
        ),
        elapsed: started.elapsed(),
        errors: log,
        load: format!("{load_before} before, {} after", loadavg()),
    };
    let out_dir = opts.root.join(&opts.out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let written = report::write(&out_dir, &meta, &plan, &samples)?;
    // The README's table is the JSON comparison.
    if !opts.no_readme && opts.parser == Wire::Json {
        report::update_readme(
            &opts.root.join(&opts.readme),
            &written.table,
            &written.md_rel(&opts.out_dir),
        )?;
    }
    println!("bench: wrote {}", written.md.display());
    Ok(())
}

/// Runs the stall probe on the server's and the generator's core at once (nothing else runs).
fn probe_cores(opts: &Options, plan: &Plan) -> Result<[Stalls; 2]> {
    let spawn = |cpu: usize| -> Result<Child> {
        let mut cmd = taskset(cpu);
        cmd.arg(std::env::current_exe()?)
            .args(["stall-probe", "--duration-ms", &s(plan.stall_probe_ms)])
            .args(["--min-us", &s(stall::MIN_GAP.as_micros())])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd.spawn().context("starting the stall probe")
    };
    let (server, generator) = (spawn(opts.server_cpu)?, spawn(opts.gen_cpu)?);
    let read = |child: Child| -> Result<Stalls> {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("the stall probe failed");
        }
        serde_json::from_slice(&out.stdout).context("stall probe output")
    };
    Ok([read(server)?, read(generator)?])
}

/// The stall probe's line of the report, empty if it never ran.
fn describe_stalls(opts: &Options, plan: &Plan, runs: &[[Stalls; 2]]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let core = |i: usize| stall::describe(&runs.iter().map(|r| r[i]).collect::<Vec<_>>());
    format!(
        "stalls of {} ms or more seen by a bare busy loop in {} ms before each run's \
         fixed-rate echo steps, per run: the servers' core {} {}; the generator's core {} {}",
        stall::MIN_GAP.as_secs_f64() * 1000.0,
        plan.stall_probe_ms,
        opts.server_cpu,
        core(0),
        opts.gen_cpu,
        core(1)
    )
}

/// The machine line of the report: CPU, Node, what was quieted, the steal time and the
/// stalls seen.
fn describe_machine(damon_paused: bool, steal: &str, stalls: &str) -> String {
    let mut m = machine();
    if damon_paused {
        m.push_str("; the kernel's DAMON memory monitor (kdamond) paused for the run");
    }
    if !steal.is_empty() {
        m.push_str("; time stolen by the hypervisor during the run: ");
        m.push_str(steal);
    }
    if !stalls.is_empty() {
        m.push_str("; ");
        m.push_str(stalls);
    }
    m
}

/// Groups samples by server, then metric key.
pub type ByServer = BTreeMap<String, BTreeMap<String, Vec<f64>>>;
