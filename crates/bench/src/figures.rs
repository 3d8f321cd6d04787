//! The report's charts: which measurements each one shows (drawn by [`chart`]).

use std::path::Path;

use anyhow::Result;

use crate::chart::{self, Series};
use crate::report::{Samples, med};
use crate::runner::Plan;

/// Draws every chart of a report into `dir` (file names start with `date`) and returns each
/// chart's title and file name.
///
/// # Errors
/// Writing a chart failing.
pub fn draw(
    dir: &Path,
    date: &str,
    plan: &Plan,
    samples: &Samples,
    servers: &[String],
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut all: Vec<String> = servers.to_vec();
    all.extend(["raw".to_owned(), "raw-batched".to_owned()]);
    let mut groups = Vec::new();
    let mut keys = Vec::new();
    for c in &plan.bc_conns {
        for k in &plan.bc_inflight {
            groups.push(format!("{c} × {k} in flight"));
            keys.push(format!("bc.{c}.{k}.deliveries_per_sec"));
        }
    }
    let series = |names: &[String], keys: &[String]| -> Vec<Series> {
        names
            .iter()
            .map(|s| Series {
                name: s.clone(),
                values: keys.iter().map(|k| med(samples, s, k)).collect(),
            })
            .collect()
    };
    let name = format!("{date}-broadcast.svg");
    chart::bars(
        &dir.join(&name),
        "Broadcast fan-out: deliveries/s (log scale)",
        "deliveries/s",
        &groups,
        &series(&all, &keys),
    )?;
    out.push(("Broadcast fan-out".to_owned(), name));

    let xs: Vec<f64> = plan.echo_rates.clone();
    let keys: Vec<String> = xs.iter().map(|r| format!("echo.{}.p99_us", *r as u64)).collect();
    let name = format!("{date}-echo-p99.svg");
    chart::lines(
        &dir.join(&name),
        "Echo + ack: p99 latency (µs, log scale) vs offered rate",
        "offered acks/s",
        "p99 µs",
        &xs,
        &series(servers, &keys),
    )?;
    out.push(("Echo + ack p99 latency".to_owned(), name));

    let groups: Vec<String> = plan.idle_levels.iter().map(|n| format!("{n} clients")).collect();
    let keys: Vec<String> =
        plan.idle_levels.iter().map(|n| format!("idle.{n}.per_conn_kib")).collect();
    let name = format!("{date}-idle-memory.svg");
    chart::bars(
        &dir.join(&name),
        "Idle RSS per WebSocket connection (KiB, log scale)",
        "KiB",
        &groups,
        &series(servers, &keys),
    )?;
    out.push(("Idle memory per connection".to_owned(), name));

    let mut groups: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for c in &plan.bc_conns {
        for k in &plan.bc_inflight {
            groups.push(format!("bc {c}×{k}"));
            keys.push(format!("bc.{c}.{k}.per_cpu"));
        }
    }
    for (g, k) in [
        ("echo", "echo.max.per_cpu"),
        ("handshakes", "storm.per_cpu"),
        ("default-mode", "storm_default.per_cpu"),
    ] {
        groups.push(g.to_owned());
        keys.push(k.to_owned());
    }
    for n in &plan.polling_clients {
        groups.push(format!("polling {n}"));
        keys.push(format!("polling.{n}.per_cpu"));
    }
    let name = format!("{date}-per-cpu.svg");
    chart::bars(
        &dir.join(&name),
        "Events per second of server CPU time (log scale)",
        "per CPU-second",
        &groups,
        &series(&all, &keys),
    )?;
    out.push(("Efficiency: events per server CPU-second".to_owned(), name));

    let mut groups = vec![
        "handshakes/s".to_owned(),
        "default-mode/s".to_owned(),
        "echo saturation acks/s".to_owned(),
    ];
    let mut keys = vec![
        "storm.per_sec".to_owned(),
        "storm_default.per_sec".to_owned(),
        "echo.max.acks_per_sec".to_owned(),
    ];
    for n in &plan.polling_clients {
        groups.push(format!("polling {n} acks/s"));
        keys.push(format!("polling.{n}.acks_per_sec"));
    }
    let name = format!("{date}-throughput.svg");
    chart::bars(
        &dir.join(&name),
        "Handshakes, echo saturation and polling (per second, log scale)",
        "per second",
        &groups,
        &series(servers, &keys),
    )?;
    out.push(("Throughput".to_owned(), name));
    Ok(out)
}
