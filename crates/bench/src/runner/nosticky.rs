//! `switchboard-bench nosticky`: polling echo with ack through three nodes behind nginx in
//! plain round-robin (every request may reach a node that forwards it to the session's owner)
//! against the same load through nginx to one node (what sticky sessions give) and against
//! one node directly. The three configurations run in the same process tree, interleaved
//! round by round, so that a machine loaded by other work weighs on all of them alike.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::hist::median;
use crate::polling::polling;
use crate::results::Outcome;
use crate::wire::Wire;

/// Options of `switchboard-bench nosticky`.
#[derive(Debug, Clone, clap::Args)]
pub struct NoStickyOptions {
    /// The workspace root (paths below are relative to it).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Our bench example binary (built with `--release`).
    #[arg(long, default_value = "target/release/examples/bench")]
    pub switchboard_bin: PathBuf,
    /// The Redis server binary.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: PathBuf,
    /// The nginx binary (Debian's package).
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub nginx: PathBuf,
    /// Polling clients, each with one echo outstanding.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Length of one measurement, ms.
    #[arg(long, default_value_t = 5000)]
    pub duration_ms: u64,
    /// WebSocket clients of the upgrade measurement, each with one echo outstanding.
    #[arg(long, default_value_t = 20)]
    pub ws_clients: usize,
    /// Rounds; each measures every configuration once, in a rotating order.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Where `<date>-nosticky.md` goes.
    #[arg(long, default_value = "bench/results")]
    pub out_dir: PathBuf,
}

/// The token the bench's nodes share.
const TOKEN: &str = "bench-cluster-token-0123456789";

/// A child process killed when dropped (and its temporary directory removed).
struct Proc {
    child: Child,
    dir: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until 127.0.0.1:`port` accepts connections, at most 10 s.
fn wait_listening(child: &mut Child, port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}) before accepting connections");
        }
        if Instant::now() > deadline {
            bail!("{what} did not accept connections on port {port} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn start_redis(bin: &Path) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let mut child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (apt-get install redis-server)", bin.display()))?;
    wait_listening(&mut child, port, "redis-server")?;
    Ok((Proc { child, dir: None }, port))
}

/// A node of the bench example in the cluster on `redis_port`; gives it and its port.
fn start_node(bin: &Path, redis_port: u16) -> Result<(Proc, u16)> {
    let mut child = Command::new(bin)
        .args(["--port", "0", "--redis", &format!("redis://127.0.0.1:{redis_port}")])
        .args(["--cluster-advertise", "127.0.0.1:0"])
        .env("SWITCHBOARD_CLUSTER_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("node stdout")?;
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    lines.read_line(&mut line)?;
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    let Some(port) = port else {
        let _ = child.kill();
        bail!("the node printed `{}`, not its address", line.trim());
    };
    // Keeps draining stdout so that the node never blocks on a full pipe; ends with it.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = lines.read_to_end(&mut sink);
    });
    Ok((Proc { child, dir: None }, port))
}

/// nginx on a free port, round-robin over `upstreams`, in a temporary directory of its own.
fn start_nginx(bin: &Path, upstreams: &[u16]) -> Result<(Proc, u16)> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("sb-bench-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let d = dir.display();
    let mut servers = String::new();
    for p in upstreams {
        let _ = writeln!(servers, "    server 127.0.0.1:{p};");
    }
    let user = if is_root() { "user root;\n" } else { "" };
    let conf = format!(
        "{user}daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n\
         client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         access_log off;\nkeepalive_requests 100000000;\nkeepalive_timeout 300s;\n\
         upstream nodes {{\n{servers}    keepalive 256;\n    keepalive_requests 100000000;\n  }}\n\
         server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
         proxy_pass http://nodes;\n      proxy_http_version 1.1;\n\
         proxy_set_header Connection \"\";\n      proxy_buffering off;\n\
         proxy_read_timeout 120s;\n    }}\n  }}\n}}\n"
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, conf)?;
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (apt-get install nginx)", bin.display()))?;
    let started = wait_listening(&mut child, port, "nginx");
    let proc = Proc { child, dir: Some(dir) };
    started?;
    Ok((proc, port))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

/// One configuration's measurements.
struct Series {
    name: &'static str,
    what: &'static str,
    port: u16,
    acks: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
}

/// Runs the comparison and writes `<out_dir>/<date>-nosticky.md`.
///
/// # Errors
/// A process not starting, or a measurement failing (an error answer on any request fails
/// the polling scenario, so a `Session ID unknown` stops the run).
pub fn run(opts: &NoStickyOptions) -> Result<()> {
    let bin = opts.root.join(&opts.switchboard_bin);
    let (_redis, redis_port) = start_redis(&opts.redis_server)?;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start_node(&bin, redis_port)?);
    }
    let ports: Vec<u16> = nodes.iter().map(|(_, p)| *p).collect();
    let (_rr, rr_port) = start_nginx(&opts.nginx, &ports)?;
    let (_one, one_port) = start_nginx(&opts.nginx, ports.get(..1).unwrap_or_default())?;
    let mut series = [
        Series {
            name: "direct",
            what: "one node, no proxy",
            port: ports.first().copied().unwrap_or_default(),
            acks: vec![],
            p50: vec![],
            p99: vec![],
        },
        Series {
            name: "nginx → 1 node",
            what: "nginx with one upstream (as sticky sessions)",
            port: one_port,
            acks: vec![],
            p50: vec![],
            p99: vec![],
        },
        Series {
            name: "nginx round-robin → 3 nodes",
            what: "plain round-robin, requests forwarded to the owner",
            port: rr_port,
            acks: vec![],
            p50: vec![],
            p99: vec![],
        },
    ];
    let duration = Duration::from_millis(opts.duration_ms);
    // A warm-up through the round-robin front: the nodes have announced themselves and
    // every connection pool is open.
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    polling(addr(rr_port), opts.clients, Duration::from_millis(1000), None, Wire::Json)
        .context("warm-up through round-robin")?;
    let load_before = crate::host::loadavg();
    let (owner, other) = match ports.as_slice() {
        [a, b, ..] => (addr(*a), addr(*b)),
        _ => bail!("three nodes expected"),
    };
    // WebSocket echo on sessions of node 0: upgraded on node 0, or through node 1.
    let mut ws = [
        Series {
            name: "WebSocket upgraded on the owner",
            what: "no proxy",
            port: owner.port(),
            acks: vec![],
            p50: vec![],
            p99: vec![],
        },
        Series {
            name: "WebSocket upgraded through another node",
            what: "proxied to the owner",
            port: other.port(),
            acks: vec![],
            p50: vec![],
            p99: vec![],
        },
    ];
    for round in 0..opts.rounds {
        for k in 0..ws.len() {
            let i = (round + k) % ws.len();
            let Some(s) = ws.get_mut(i) else { continue };
            let (acks, rtt) =
                super::nosticky_ws::echo(owner, addr(s.port), opts.ws_clients, duration)
                    .with_context(|| format!("round {round}, {}", s.name))?;
            eprintln!(
                "round {round} {}: {acks:.0} acks/s, p50 {:.0} µs, p99 {:.0} µs",
                s.name, rtt.p50_us, rtt.p99_us
            );
            s.acks.push(acks);
            s.p50.push(rtt.p50_us);
            s.p99.push(rtt.p99_us);
        }
        for k in 0..series.len() {
            let i = (round + k) % series.len();
            let Some(s) = series.get_mut(i) else { continue };
            let outcome = polling(addr(s.port), opts.clients, duration, None, Wire::Json)
                .with_context(|| format!("round {round}, {}", s.name))?;
            let Outcome::Polling { acks_per_sec, rtt, .. } = outcome else {
                bail!("the polling scenario gave another outcome");
            };
            eprintln!(
                "round {round} {}: {acks_per_sec:.0} acks/s, p50 {:.0} µs, p99 {:.0} µs",
                s.name, rtt.p50_us, rtt.p99_us
            );
            s.acks.push(acks_per_sec);
            s.p50.push(rtt.p50_us);
            s.p99.push(rtt.p99_us);
        }
    }
    let report = render(opts, &series, &ws, &load_before, &crate::host::loadavg());
    std::fs::create_dir_all(opts.root.join(&opts.out_dir))?;
    let path = opts.root.join(&opts.out_dir).join(format!("{}-nosticky.md", crate::host::today()));
    std::fs::write(&path, report).with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

fn render(
    opts: &NoStickyOptions,
    series: &[Series],
    ws: &[Series],
    load_before: &str,
    load_after: &str,
) -> String {
    let med = |v: &[f64]| median(v).unwrap_or(f64::NAN);
    let mut out = String::new();
    let _ =
        writeln!(out, "# Polling echo + ack without sticky sessions ({})\n", crate::host::today());
    let _ = writeln!(
        out,
        "`switchboard-bench nosticky --clients {} --duration-ms {} --rounds {}`: {} polling \
         clients (two keep-alive connections each, a long-polling GET and a POST), each with \
         one `echo` with ack outstanding (closed loop), against the bench example \
         (`--redis`, `--cluster-advertise`, `--cluster-token`) built `--release`. The three \
         configurations run in the same run, interleaved round by round in a rotating order; \
         the tables give the median over the rounds.\n",
        opts.clients, opts.duration_ms, opts.rounds, opts.clients
    );
    let _ = writeln!(out, "| configuration | what | acks/s | RTT p50 (µs) | RTT p99 (µs) |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for s in series {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.0} |",
            s.name,
            s.what,
            med(&s.acks),
            med(&s.p50),
            med(&s.p99)
        );
    }
    if let [direct, one, rr] = series {
        let _ = writeln!(
            out,
            "\nRound-robin against nginx to one node: throughput ×{:.2}, p50 ×{:.2}, p99 ×{:.2}. \
             Against one node directly: throughput ×{:.2}, p50 ×{:.2}.\n",
            med(&rr.acks) / med(&one.acks),
            med(&rr.p50) / med(&one.p50),
            med(&rr.p99) / med(&one.p99),
            med(&rr.acks) / med(&direct.acks),
            med(&rr.p50) / med(&direct.p50),
        );
    }
    let _ = writeln!(
        out,
        "WebSocket: {} sessions opened by polling on node 0, then upgraded either on node 0 or \
         through node 1 (which proxies the upgraded connection to node 0 for its life); each \
         with one `echo` with ack outstanding, over the WebSocket only.\n",
        opts.ws_clients
    );
    let _ = writeln!(out, "| configuration | what | acks/s | RTT p50 (µs) | RTT p99 (µs) |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for s in ws {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.0} |",
            s.name,
            s.what,
            med(&s.acks),
            med(&s.p50),
            med(&s.p99)
        );
    }
    if let [direct, proxied] = ws {
        let _ = writeln!(
            out,
            "\nProxied against direct: throughput ×{:.2}, p50 ×{:.2}, p99 ×{:.2}.\n",
            med(&proxied.acks) / med(&direct.acks),
            med(&proxied.p50) / med(&direct.p50),
            med(&proxied.p99) / med(&direct.p99),
        );
    }
    let _ = writeln!(out, "Every round:\n");
    let _ = writeln!(out, "| configuration | round | acks/s | p50 (µs) | p99 (µs) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for s in series.iter().chain(ws) {
        for (r, ((a, p50), p99)) in s.acks.iter().zip(&s.p50).zip(&s.p99).enumerate() {
            let _ = writeln!(out, "| {} | {r} | {a:.0} | {p50:.0} | {p99:.0} |", s.name);
        }
    }
    let _ = writeln!(
        out,
        "\nMachine: {}. Load average before {load_before}, after {load_after}. No process is \
         pinned to a core.",
        crate::host::machine()
    );
    out
}
