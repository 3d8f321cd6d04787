//! The report: medians per server and metric, the Markdown table with ratios, the goals of the
//! issue, SVG charts, the JSON of every sample, and the README's marked section.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::hist::median;
use crate::results::Outcome;
use crate::runner::Plan;
use crate::{figures, goals};

/// Every sample: server, then metric key, then one value per run.
pub type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// The README markers between which the table goes.
pub const START: &str = "<!-- bench:start -->";
/// See [`START`].
pub const END: &str = "<!-- bench:end -->";

/// Flattens one outcome into metric keys.
pub fn add(samples: &mut Samples, server: &str, o: &Outcome) {
    let m = samples.entry(server.to_owned()).or_default();
    let mut put = |k: String, v: f64| m.entry(k).or_default().push(v);
    match o {
        Outcome::Idle { levels, .. } => {
            for l in levels {
                put(format!("idle.{}.per_conn_kib", l.conns), l.per_conn_kib);
                put(format!("idle.{}.rss_kib", l.conns), l.rss_kib as f64);
            }
        }
        Outcome::IdlePolling { levels, .. } => {
            for l in levels {
                put(format!("idle_polling.{}.per_conn_kib", l.conns), l.per_conn_kib);
                put(format!("idle_polling.{}.rss_kib", l.conns), l.rss_kib as f64);
            }
        }
        Outcome::Storm { per_sec, handshake, per_server_cpu_s, .. } => {
            put("storm.per_sec".into(), *per_sec);
            if let Some(v) = per_server_cpu_s {
                put("storm.per_cpu".into(), *v);
            }
            put("storm.p99_us".into(), handshake.p99_us);
        }
        Outcome::Broadcast {
            conns,
            inflight,
            deliveries_per_sec,
            completion,
            per_server_cpu_s,
            cluster,
            per_redis_cpu_s,
            binary,
            ..
        } => {
            let p = match cluster {
                None if *binary => format!("bcbin.{conns}.{inflight}"),
                None => format!("bc.{conns}.{inflight}"),
                Some(adapter) => format!("xbc.{adapter}.{conns}.{inflight}"),
            };
            put(format!("{p}.deliveries_per_sec"), *deliveries_per_sec);
            if let Some(v) = per_server_cpu_s {
                put(format!("{p}.per_cpu"), *v);
            }
            if let Some(v) = per_redis_cpu_s {
                put(format!("{p}.per_redis_cpu"), *v);
            }
            put(format!("{p}.p50_us"), completion.p50_us);
            put(format!("{p}.p99_us"), completion.p99_us);
        }
        Outcome::Echo { rate, acks_per_sec, latency, per_server_cpu_s, .. } if *rate == 0.0 => {
            put("echo.max.acks_per_sec".into(), *acks_per_sec);
            if let Some(v) = per_server_cpu_s {
                put("echo.max.per_cpu".into(), *v);
            }
            put("echo.max.p99_us".into(), latency.p99_us);
        }
        Outcome::Echo { rate, acks_per_sec, latency, .. } => {
            let r = *rate as u64;
            put(format!("echo.{r}.acks_per_sec"), *acks_per_sec);
            put(format!("echo.{r}.p50_us"), latency.p50_us);
            put(format!("echo.{r}.p99_us"), latency.p99_us);
            put(format!("echo.{r}.p999_us"), latency.p999_us);
        }
        Outcome::Polling { clients, rate, acks_per_sec, rtt, per_server_cpu_s, kernel_share } => {
            let p = polling_prefix(*clients, *rate);
            put(format!("{p}.acks_per_sec"), *acks_per_sec);
            if let Some(v) = per_server_cpu_s {
                put(format!("{p}.per_cpu"), *v);
            }
            if let Some(v) = kernel_share {
                put(format!("{p}.kernel_share"), *v);
            }
            put(format!("{p}.p50_us"), rtt.p50_us);
            put(format!("{p}.p99_us"), rtt.p99_us);
        }
        Outcome::StormDefault {
            per_sec,
            connected,
            upgraded,
            per_server_cpu_s,
            kernel_share,
            ..
        } => {
            put("storm_default.per_sec".into(), *per_sec);
            if let Some(v) = per_server_cpu_s {
                put("storm_default.per_cpu".into(), *v);
            }
            if let Some(v) = kernel_share {
                put("storm_default.kernel_share".into(), *v);
            }
            put("storm_default.connected_p50_us".into(), connected.p50_us);
            put("storm_default.connected_p99_us".into(), connected.p99_us);
            put("storm_default.upgraded_p50_us".into(), upgraded.p50_us);
            put("storm_default.upgraded_p99_us".into(), upgraded.p99_us);
        }
    }
}

/// The metric keys' prefix of a polling outcome: `polling.N`, or `polling.N.atR` when paced.
pub(crate) fn polling_prefix(clients: usize, rate: Option<f64>) -> String {
    match rate {
        Some(r) => format!("polling.{clients}.at{}", r.round() as u64),
        None => format!("polling.{clients}"),
    }
}

/// The median of a metric for a server.
#[must_use]
pub fn med(samples: &Samples, server: &str, key: &str) -> Option<f64> {
    median(samples.get(server)?.get(key)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    PerSec,
    PerCpu,
    Micros,
    Kib,
    /// A share (0–1), written as a percentage; its rows have no ratios.
    Share,
}

struct Row {
    label: String,
    key: String,
    unit: Unit,
    higher_better: bool,
    /// The offered rate, for echo rows (a value below 95 % of it is marked saturated).
    offered: Option<f64>,
}

/// The label of the efficiency row under each throughput row.
const CPU_LABEL: &str = "↳ the same per second of server CPU time";

/// The label of the row that says how much of that CPU time the kernel took.
const KERNEL_LABEL: &str = "↳ share of that CPU time spent in the kernel";

fn rows(plan: &Plan) -> Vec<Row> {
    let row = |label: String, key: String, unit, higher_better| Row {
        label,
        key,
        unit,
        higher_better,
        offered: None,
    };
    let mut v = Vec::new();
    for n in &plan.idle_levels {
        v.push(row(
            format!("Idle RSS per WebSocket connection, {n} clients"),
            format!("idle.{n}.per_conn_kib"),
            Unit::Kib,
            false,
        ));
    }
    for n in &plan.idle_polling_levels {
        v.push(row(
            format!("Idle RSS per long-polling client, {n} clients"),
            format!("idle_polling.{n}.per_conn_kib"),
            Unit::Kib,
            false,
        ));
    }
    v.push(row(
        "Connection storm: full handshakes".into(),
        "storm.per_sec".into(),
        Unit::PerSec,
        true,
    ));
    v.push(row(CPU_LABEL.into(), "storm.per_cpu".into(), Unit::PerCpu, true));
    v.push(row(
        "Default-mode connections (polling, then upgrade)".into(),
        "storm_default.per_sec".into(),
        Unit::PerSec,
        true,
    ));
    v.push(row(CPU_LABEL.into(), "storm_default.per_cpu".into(), Unit::PerCpu, true));
    v.push(row(KERNEL_LABEL.into(), "storm_default.kernel_share".into(), Unit::Share, false));
    for (what, key) in [
        ("connected p50", "connected_p50_us"),
        ("connected p99", "connected_p99_us"),
        ("upgraded p50", "upgraded_p50_us"),
        ("upgraded p99", "upgraded_p99_us"),
    ] {
        v.push(row(
            format!("Default-mode connection: time to {what}"),
            format!("storm_default.{key}"),
            Unit::Micros,
            false,
        ));
    }
    for c in &plan.bc_conns {
        for k in &plan.bc_inflight {
            let p = format!("bc.{c}.{k}");
            v.push(row(
                format!("Broadcast to {c}, {k} in flight: deliveries"),
                format!("{p}.deliveries_per_sec"),
                Unit::PerSec,
                true,
            ));
            v.push(row(CPU_LABEL.into(), format!("{p}.per_cpu"), Unit::PerCpu, true));
            v.push(row(
                format!("Broadcast to {c}, {k} in flight: completion p50"),
                format!("{p}.p50_us"),
                Unit::Micros,
                false,
            ));
            v.push(row(
                format!("Broadcast to {c}, {k} in flight: completion p99"),
                format!("{p}.p99_us"),
                Unit::Micros,
                false,
            ));
        }
    }
    for k in &plan.bcbin_inflight {
        let c = plan.bcbin_conns;
        let p = format!("bcbin.{c}.{k}");
        v.push(row(
            format!("Binary broadcast (4 KiB attachment) to {c}, {k} in flight: deliveries"),
            format!("{p}.deliveries_per_sec"),
            Unit::PerSec,
            true,
        ));
        v.push(row(CPU_LABEL.into(), format!("{p}.per_cpu"), Unit::PerCpu, true));
        v.push(row(
            format!("Binary broadcast to {c}, {k} in flight: completion p99"),
            format!("{p}.p99_us"),
            Unit::Micros,
            false,
        ));
    }
    for adapter in &plan.cluster_adapters {
        let c = plan.xbc_conns;
        for k in &plan.xbc_inflight {
            let p = format!("xbc.{adapter}.{c}.{k}");
            let what =
                format!("Across 2 nodes on Redis ({adapter}), broadcast to {c}, {k} in flight");
            v.push(row(
                format!("{what}: deliveries"),
                format!("{p}.deliveries_per_sec"),
                Unit::PerSec,
                true,
            ));
            v.push(row(
                "↳ the same per second of server CPU time (both nodes)".into(),
                format!("{p}.per_cpu"),
                Unit::PerCpu,
                true,
            ));
            v.push(row(
                "↳ the same per second of Redis CPU time".into(),
                format!("{p}.per_redis_cpu"),
                Unit::PerCpu,
                true,
            ));
            v.push(row(
                format!("{what}: completion p99"),
                format!("{p}.p99_us"),
                Unit::Micros,
                false,
            ));
        }
    }
    v.push(row(
        "Echo + ack, saturation (closed loop, 100 × 16)".into(),
        "echo.max.acks_per_sec".into(),
        Unit::PerSec,
        true,
    ));
    v.push(row(CPU_LABEL.into(), "echo.max.per_cpu".into(), Unit::PerCpu, true));
    for r in &plan.echo_rates {
        let r = *r as u64;
        v.push(Row {
            offered: Some(r as f64),
            ..row(
                format!("Echo + ack at {r}/s: acks"),
                format!("echo.{r}.acks_per_sec"),
                Unit::PerSec,
                true,
            )
        });
        for (q, name) in [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")] {
            v.push(row(
                format!("Echo + ack at {r}/s: {name}"),
                format!("echo.{r}.{q}_us"),
                Unit::Micros,
                false,
            ));
        }
    }
    for n in &plan.polling_clients {
        let p = format!("polling.{n}");
        v.push(row(
            format!("Polling: echo + ack, {n} clients"),
            format!("{p}.acks_per_sec"),
            Unit::PerSec,
            true,
        ));
        v.push(row(CPU_LABEL.into(), format!("{p}.per_cpu"), Unit::PerCpu, true));
        v.push(row(KERNEL_LABEL.into(), format!("{p}.kernel_share"), Unit::Share, false));
        v.push(row(
            format!("Polling, {n} clients: round trip p50"),
            format!("{p}.p50_us"),
            Unit::Micros,
            false,
        ));
        v.push(row(
            format!("Polling, {n} clients: round trip p99"),
            format!("{p}.p99_us"),
            Unit::Micros,
            false,
        ));
        let rate = plan.polling_rate;
        let p = polling_prefix(*n, Some(rate));
        v.push(Row {
            offered: Some(rate),
            ..row(
                format!("Polling at {rate}/s, {n} clients: echoes"),
                format!("{p}.acks_per_sec"),
                Unit::PerSec,
                true,
            )
        });
        for (q, name) in [("p50", "p50"), ("p99", "p99")] {
            v.push(row(
                format!("Polling at {rate}/s, {n} clients: round trip {name}"),
                format!("{p}.{q}_us"),
                Unit::Micros,
                false,
            ));
        }
    }
    v
}

pub(crate) fn fmt(v: Option<f64>, unit: Unit) -> String {
    let Some(v) = v else { return "—".into() };
    let (scale, decimals, suffix) = scale_of(v, unit);
    format!("{:.*}{suffix}", decimals, v / scale)
}

/// How `v` is written: divided by the scale, with this many decimals, then the suffix.
fn scale_of(v: f64, unit: Unit) -> (f64, usize, &'static str) {
    match unit {
        Unit::PerSec if v >= 1e6 => (1e6, 2, " M/s"),
        Unit::PerSec if v >= 1e3 => (1e3, 1, " k/s"),
        Unit::PerSec => (1.0, 0, " /s"),
        Unit::PerCpu if v >= 1e6 => (1e6, 2, " M"),
        Unit::PerCpu if v >= 1e3 => (1e3, 1, " k"),
        Unit::PerCpu => (1.0, 0, ""),
        Unit::Micros if v >= 1e3 => (1e3, 1, " ms"),
        Unit::Micros => (1e3, 3, " ms"),
        Unit::Kib => (1.0, 1, " KiB"),
        Unit::Share => (0.01, 0, " %"),
    }
}

/// The median of `values` with the run-to-run range behind it in the median's scale, e.g.
/// `1.80 M/s (1.71–1.85)`; the median alone for a single run.
pub(crate) fn fmt_with_range(values: Option<&[f64]>, unit: Unit) -> String {
    let Some(values) = values.filter(|v| !v.is_empty()) else { return "—".into() };
    let v = median(values);
    let text = fmt(v, unit);
    let (Some(v), true) = (v, values.len() > 1) else { return text };
    let finite = || values.iter().copied().filter(|x| x.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let (scale, decimals, _) = scale_of(v, unit);
    format!("{text} ({:.*}–{:.*})", decimals, lo / scale, decimals, hi / scale)
}

/// Every value of a metric for a server, one per run.
fn values<'a>(samples: &'a Samples, server: &str, key: &str) -> Option<&'a [f64]> {
    samples.get(server)?.get(key).map(Vec::as_slice)
}

/// How many times better `ours` is than `theirs` (> 1: ours is better).
#[must_use]
pub fn ratio(ours: Option<f64>, theirs: Option<f64>, higher_better: bool) -> Option<f64> {
    let (o, t) = (ours?, theirs?);
    if o <= 0.0 || t <= 0.0 {
        return None;
    }
    Some(if higher_better { o / t } else { t / o })
}

pub(crate) fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), |r| format!("{r:.2}×"))
}

/// The ratio of the medians, and behind it the range of the per-run ratios (each run of ours
/// against the same run of theirs) when there are several runs of both.
fn ratio_cell(
    samples: &Samples,
    ours: &str,
    theirs: &str,
    key: &str,
    higher_better: bool,
) -> String {
    let median_ratio =
        fmt_ratio(ratio(med(samples, ours, key), med(samples, theirs, key), higher_better));
    let (Some(o), Some(t)) = (values(samples, ours, key), values(samples, theirs, key)) else {
        return median_ratio;
    };
    let per_run: Vec<f64> = o
        .iter()
        .zip(t)
        .filter_map(|(&o, &t)| ratio(Some(o), Some(t), higher_better))
        .filter(|r| r.is_finite())
        .collect();
    if per_run.len() < 2 {
        return median_ratio;
    }
    let lo = per_run.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_run.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{median_ratio} ({lo:.2}–{hi:.2})")
}

/// Run facts for the report header.
#[derive(Debug, Clone)]
pub struct Meta {
    /// UTC date.
    pub date: String,
    /// Repetitions.
    pub runs: usize,
    /// Quick mode.
    pub quick: bool,
    /// Whether taskset pinned the processes.
    pub pinned: bool,
    /// The open-file limit.
    pub nofile: u64,
    /// Servers compared.
    pub servers: Vec<String>,
    /// The Socket.IO packet format (`json`, `msgpack`).
    pub parser: String,
    /// CPU and Node version.
    pub machine: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Scenario failures.
    pub errors: Vec<String>,
    /// Load averages before and after the run.
    pub load: String,
}

/// What [`write()`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The Markdown file.
    pub md: PathBuf,
    /// The results table (for the README).
    pub table: String,
}

impl Written {
    /// The Markdown file's path under `out_dir` (as the README links it).
    #[must_use]
    pub fn md_rel(&self, out_dir: &Path) -> String {
        let name =
            self.md.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out_dir.join(name).display().to_string()
    }
}

/// The results table: each scenario, each server, the raw ceiling, and our ratios.
#[must_use]
pub fn table(plan: &Plan, samples: &Samples, servers: &[String]) -> String {
    let ours = "switchboard";
    let mut t = String::from("| Scenario |");
    for s in servers {
        let _ = write!(t, " {s} |");
    }
    t.push_str(" raw TCP ceiling (1 write/frame · batched) | switchboard vs socketioxide | switchboard vs Node |\n|---|");
    t.push_str(&"---:|".repeat(servers.len() + 3));
    t.push('\n');
    for r in rows(plan) {
        let _ = write!(t, "| {} |", r.label);
        for s in servers {
            let v = med(samples, s, &r.key);
            let sat = r.offered.is_some_and(|o| v.is_some_and(|v| v < 0.95 * o));
            let cell = fmt_with_range(values(samples, s, &r.key), r.unit);
            let _ = write!(t, " {cell}{} |", if sat { " (saturated)" } else { "" });
        }
        let (a, b) = (values(samples, "raw", &r.key), values(samples, "raw-batched", &r.key));
        if a.is_some() || b.is_some() {
            let _ = write!(t, " {} · {} |", fmt_with_range(a, r.unit), fmt_with_range(b, r.unit));
        } else {
            t.push_str(" |");
        }
        if r.unit == Unit::Share {
            t.push_str(" | |\n");
            continue;
        }
        let _ = writeln!(
            t,
            " {} | {} |",
            ratio_cell(samples, ours, "socketioxide", &r.key, r.higher_better),
            ratio_cell(samples, ours, "node", &r.key, r.higher_better)
        );
    }
    t
}

/// Writes `<date>.md`, `<date>.json` and the charts into `dir`.
///
/// # Errors
/// Writing a file failing.
pub fn write(dir: &Path, meta: &Meta, plan: &Plan, samples: &Samples) -> Result<Written> {
    let mut stem = if meta.quick { format!("{}-quick", meta.date) } else { meta.date.clone() };
    if meta.parser != "json" {
        stem = format!("{stem}-{}", meta.parser);
    }
    let table = table(plan, samples, &meta.servers);
    let charts = figures::draw(dir, &stem, plan, samples, &meta.servers)?;
    let mut md = format!("# Benchmarks, {}\n\n", meta.date);
    let _ = writeln!(
        md,
        "Machine: {}. Servers: {}. Packet format: {}. Medians of {} run(s){}, each with the range of the runs behind it in parentheses (ratios: each run against the same run of the other server); each scenario runs on every server in turn \
         (A/B/C), each time on a fresh server process; {}; open-file limit {}. Wall time {:.0?}; load average (1/5/15 min) {}.\n",
        meta.machine,
        meta.servers.join(", "),
        meta.parser,
        meta.runs,
        if meta.quick {
            " (quick mode: smaller and shorter scenarios, not for comparison)"
        } else {
            ""
        },
        if meta.pinned {
            "server pinned to core 0, load generator to core 1 (taskset)"
        } else {
            "NOT pinned (taskset missing)"
        },
        meta.nofile,
        meta.elapsed,
        meta.load
    );
    md.push_str(
        "Load generator: `switchboard-bench` (one mio event loop, pre-encoded masked frames, 64 loopback \
         source addresses, handshakes in flight capped, open-loop echo latency measured from the intended \
         send time). Ratios: how many times better switchboard is (throughput: ours / theirs; latency and \
         memory: theirs / ours). The raw TCP ceiling is a plain fan-out of the same pre-encoded frames \
         (one write per frame, and every frame of a wake-up batched into one write per connection).\n\n",
    );
    md.push_str("## Results\n\n");
    md.push_str(&table);
    md.push_str("\n## Goals\n\n");
    md.push_str(&goals::table(plan, samples));
    md.push_str("\n## Charts\n\n");
    for (title, file) in &charts {
        let _ = writeln!(md, "![{title}]({file})\n");
    }
    if !meta.errors.is_empty() {
        md.push_str("## Scenario failures\n\n");
        for e in &meta.errors {
            let _ = writeln!(md, "- {}", e.replace('\n', " "));
        }
        md.push('\n');
    }
    let _ = writeln!(md, "Every sample: [{stem}.json]({stem}.json).");
    let md_path = dir.join(format!("{stem}.md"));
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(dir.join(format!("{stem}.json")), serde_json::to_string_pretty(samples)?)?;
    Ok(Written { md: md_path, table })
}

/// Replaces the README's marked section with `table` and a link to the full report; adds a
/// `## Benchmarks` section before `## License` when the markers are missing.
///
/// # Errors
/// Reading or writing the README failing.
pub fn update_readme(readme: &Path, table: &str, md_rel: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    let section = format!("{START}\nLatest run: [{md_rel}]({md_rel}).\n\n{table}{END}");
    std::fs::write(readme, splice(&text, &section))?;
    Ok(())
}

fn splice(text: &str, section: &str) -> String {
    if let (Some(a), Some(b)) = (text.find(START), text.find(END)) {
        if a < b {
            return format!("{}{section}{}", &text[..a], &text[b + END.len()..]);
        }
    }
    let block = format!("## Benchmarks\n\n{section}\n\n");
    match text.find("## License") {
        Some(i) => format!("{}{block}{}", &text[..i], &text[i..]),
        None => format!("{text}\n{block}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::Summary;

    #[test]
    fn ratios_point_the_right_way() {
        assert_eq!(ratio(Some(300.0), Some(100.0), true), Some(3.0));
        assert_eq!(ratio(Some(2.0), Some(8.0), false), Some(4.0));
        assert_eq!(ratio(None, Some(1.0), true), None);
        assert_eq!(ratio(Some(0.0), Some(1.0), true), None);
    }

    #[test]
    fn samples_flatten_and_take_medians() {
        let mut s = Samples::default();
        for v in [10.0, 30.0, 20.0] {
            add(
                &mut s,
                "node",
                &Outcome::Storm {
                    ready: 1,
                    failed: 0,
                    per_sec: v,
                    handshake: Summary::default(),
                    per_server_cpu_s: Some(v * 2.0),
                },
            );
        }
        assert_eq!(med(&s, "node", "storm.per_sec"), Some(20.0));
        assert_eq!(med(&s, "node", "storm.per_cpu"), Some(40.0));
        assert_eq!(med(&s, "node", "missing"), None);
        let plan = Plan::new(true);
        let t = table(&plan, &s, &["switchboard".into(), "node".into()]);
        assert!(t.contains("| Connection storm: full handshakes | — | 20 /s (10–30) |"), "{t}");
    }

    #[test]
    fn ranges_are_written_in_the_scale_of_the_median() {
        let r = fmt_with_range(Some(&[1.71e6, 1.80e6, 1.85e6]), Unit::PerSec);
        assert_eq!(r, "1.80 M/s (1.71–1.85)");
        // A run far below the others is written in the median's scale too.
        let r = fmt_with_range(Some(&[900.0, 2_000.0, 2_100.0]), Unit::Micros);
        assert_eq!(r, "2.0 ms (0.9–2.1)");
        assert_eq!(fmt_with_range(Some(&[3.0 * 1024.0]), Unit::Kib), "3072.0 KiB");
        assert_eq!(fmt_with_range(Some(&[]), Unit::Kib), "—");
        assert_eq!(fmt_with_range(None, Unit::Kib), "—");
        assert_eq!(fmt_with_range(Some(&[0.68, 0.71, 0.7]), Unit::Share), "70 % (68–71)");
        let mut s = Samples::default();
        for (server, v) in [("switchboard", [20.0, 30.0, 40.0]), ("node", [10.0, 10.0, 40.0])] {
            s.entry(server.into()).or_default().insert("k".into(), v.to_vec());
        }
        // Medians 30 and 10; the runs' own ratios are 2, 3 and 1.
        assert_eq!(ratio_cell(&s, "switchboard", "node", "k", true), "3.00× (1.00–3.00)");
        assert_eq!(ratio_cell(&s, "switchboard", "socketioxide", "k", true), "—");
    }

    #[test]
    fn paced_polling_has_keys_and_rows_of_its_own() {
        let mut s = Samples::default();
        for (rate, p99) in [(None, 9_000.0), (Some(20_000.0), 2_000.0)] {
            let rtt = Summary { p99_us: p99, ..Summary::default() };
            add(
                &mut s,
                "switchboard",
                &Outcome::Polling {
                    clients: 500,
                    rate,
                    acks_per_sec: 19_990.0,
                    rtt,
                    per_server_cpu_s: None,
                    kernel_share: None,
                },
            );
        }
        assert_eq!(med(&s, "switchboard", "polling.500.p99_us"), Some(9_000.0));
        assert_eq!(med(&s, "switchboard", "polling.500.at20000.p99_us"), Some(2_000.0));
        let t = table(&Plan::new(true), &s, &["switchboard".into()]);
        assert!(t.contains("| Polling at 20000/s, 500 clients: round trip p99 | 2.0 ms |"), "{t}");
        assert!(t.contains("| Polling at 20000/s, 500 clients: echoes | 20.0 k/s |"), "{t}");
    }

    #[test]
    fn cross_node_broadcasts_have_rows_of_their_own() {
        let mut s = Samples::default();
        let bc = |cluster: Option<&str>, v: f64| Outcome::Broadcast {
            conns: 1000,
            inflight: 16,
            completed: 1,
            deliveries_per_sec: v,
            completion: Summary::default(),
            per_server_cpu_s: Some(v / 2.0),
            cluster: cluster.map(str::to_owned),
            per_redis_cpu_s: cluster.map(|_| v * 10.0),
            binary: false,
        };
        add(&mut s, "switchboard", &bc(None, 100.0));
        add(&mut s, "switchboard", &bc(Some("redis"), 60.0));
        add(&mut s, "node", &bc(Some("redis"), 20.0));
        assert_eq!(med(&s, "switchboard", "bc.1000.16.deliveries_per_sec"), Some(100.0));
        assert_eq!(med(&s, "switchboard", "xbc.redis.1000.16.deliveries_per_sec"), Some(60.0));
        assert_eq!(med(&s, "switchboard", "xbc.redis.1000.16.per_cpu"), Some(30.0));
        assert_eq!(med(&s, "node", "xbc.redis.1000.16.per_redis_cpu"), Some(200.0));
        assert_eq!(med(&s, "switchboard", "bc.1000.16.per_redis_cpu"), None);
        let mut plan = Plan::new(true);
        let servers = ["switchboard".to_owned(), "node".to_owned()];
        assert!(!table(&plan, &s, &servers).contains("Across 2 nodes"));
        plan.cluster_adapters = vec!["redis".to_owned()];
        let t = table(&plan, &s, &servers);
        let row = "| Across 2 nodes on Redis (redis), broadcast to 1000, 16 in flight: deliveries \
                   | 60 /s | 20 /s |";
        assert!(t.contains(row), "{t}");
        assert!(
            t.contains("| ↳ the same per second of server CPU time (both nodes) | 30 | 10 |"),
            "{t}"
        );
    }

    #[test]
    fn readme_section_is_replaced_or_added() {
        let fresh =
            splice("# X\n\n## License\n\nMIT.\n", "<!-- bench:start -->\nT\n<!-- bench:end -->");
        assert!(fresh.contains(
            "## Benchmarks\n\n<!-- bench:start -->\nT\n<!-- bench:end -->\n\n## License"
        ));
        let again = splice(&fresh, "<!-- bench:start -->\nU\n<!-- bench:end -->");
        assert!(again.contains("\nU\n") && !again.contains("\nT\n"));
        assert_eq!(again.matches("## Benchmarks").count(), 1);
    }
}
