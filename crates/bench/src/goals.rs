//! The report's goals table: the targets, the medians against them, and how many runs
//! met each on their own.

use std::fmt::Write as _;

use crate::report::{Samples, Unit, fmt, fmt_ratio, med, ratio};
use crate::runner::Plan;

/// The per-run values of `key` for `server` (one per run, in run order).
fn runs<'a>(samples: &'a Samples, server: &str, key: &str) -> &'a [f64] {
    samples.get(server).and_then(|m| m.get(key)).map(Vec::as_slice).unwrap_or_default()
}

/// The ratio of every run to the same run of `other`: each scenario runs on every server in
/// turn, so run `i` of both was taken minutes apart, on the same machine state. `None` when
/// a run is missing on either side (then the runs no longer pair up).
fn run_ratios(samples: &Samples, key: &str, other: &str) -> Option<Vec<f64>> {
    let (ours, theirs) = (runs(samples, "switchboard", key), runs(samples, other, key));
    if ours.is_empty() || ours.len() != theirs.len() {
        return None;
    }
    ours.iter().zip(theirs).map(|(o, t)| ratio(Some(*o), Some(*t), true)).collect()
}

/// `3 of 5 (2.41–3.20×)`: how many of `values` pass `ok`, and their range.
fn runs_met(
    values: Option<&[f64]>,
    ok: impl Fn(f64) -> bool,
    show: impl Fn(f64) -> String,
) -> String {
    let Some(values) = values.filter(|v| !v.is_empty()) else { return "—".to_owned() };
    let met = values.iter().filter(|v| ok(**v)).count();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{met} of {} ({}–{})", values.len(), show(lo), show(hi))
}

fn check(v: Option<f64>, ok: bool) -> String {
    match v {
        None => "not measured".to_owned(),
        Some(_) if ok => "met".to_owned(),
        Some(_) => "not met".to_owned(),
    }
}

/// The bound on an idle long-polling client's memory (a held GET and the keep-alive connection
/// of its POSTs): a third of what one cost on hyper's server (36.6 KiB), whose two 8 KiB
/// buffers per connection made up most of it.
const IDLE_POLLING_MAX_KIB: f64 = 12.0;

/// The goals table of the report.
pub(crate) fn table(plan: &Plan, samples: &Samples) -> String {
    let m = |s: &str, k: &str| med(samples, s, k);
    let idle_key =
        plan.idle_levels.last().map(|n| format!("idle.{n}.per_conn_kib")).unwrap_or_default();
    let bc16 = plan
        .bc_inflight
        .last()
        .map(|k| format!("bc.10000.{k}.deliveries_per_sec"))
        .unwrap_or_default();
    let mut g = String::from(
        "The median of the runs decides; the last column says how many runs met the goal on \
         their own, and the range of their values (ratios: each run against the same run of the \
         other server).\n\n\
         | Goal | Target | Measured | Per server CPU-second | | Runs that met it |\n\
         |---|---:|---:|---:|---|---|\n",
    );
    let kib = |v: f64| fmt(Some(v), Unit::Kib);
    let idle = m("switchboard", &idle_key);
    let _ = writeln!(
        g,
        "| RSS per idle WebSocket connection (largest level) | ≤ 2 KiB | {} | | {} | {} |",
        fmt(idle, Unit::Kib),
        check(idle, idle.is_some_and(|v| v <= 2.0)),
        runs_met(Some(runs(samples, "switchboard", &idle_key)), |v| v <= 2.0, kib)
    );
    if let Some(n) = plan.idle_polling_levels.last() {
        let key = format!("idle_polling.{n}.per_conn_kib");
        let v = m("switchboard", &key);
        let _ = writeln!(
            g,
            "| RSS per idle long-polling client (largest level) | ≤ {IDLE_POLLING_MAX_KIB} KiB | {} | | {} | {} |",
            fmt(v, Unit::Kib),
            check(v, v.is_some_and(|v| v <= IDLE_POLLING_MAX_KIB)),
            runs_met(Some(runs(samples, "switchboard", &key)), |v| v <= IDLE_POLLING_MAX_KIB, kib)
        );
    }
    for (label, key, other, target) in [
        ("Broadcast to 10k, most in flight, vs socketioxide", bc16.as_str(), "socketioxide", 3.0),
        ("Broadcast to 10k, most in flight, vs Node", bc16.as_str(), "node", 15.0),
        (
            "Broadcast to 10k, 1 in flight, vs socketioxide",
            "bc.10000.1.deliveries_per_sec",
            "socketioxide",
            1.3,
        ),
        ("Echo + ack saturation vs socketioxide", "echo.max.acks_per_sec", "socketioxide", 2.5),
        ("Full handshakes/s vs socketioxide", "storm.per_sec", "socketioxide", 1.7),
    ] {
        let r = ratio(m("switchboard", key), m(other, key), true);
        let cpu_key =
            key.replace("deliveries_per_sec", "per_cpu").replace("acks_per_sec", "per_cpu");
        let cpu_key = cpu_key.replace("per_sec", "per_cpu");
        let rc = ratio(m("switchboard", &cpu_key), m(other, &cpu_key), true);
        let per_run = run_ratios(samples, key, other);
        let _ = writeln!(
            g,
            "| {label} | ≥ {target}× | {} | {} | {} | {} |",
            fmt_ratio(r),
            fmt_ratio(rc),
            check(r, r.is_some_and(|r| r >= target)),
            runs_met(per_run.as_deref(), |v| v >= target, |v| fmt_ratio(Some(v)))
        );
    }
    // Across nodes, the goal is efficiency: deliveries per server CPU-second (both nodes).
    for adapter in &plan.cluster_adapters {
        let Some(k) = plan.xbc_inflight.last() else { break };
        let p = format!("xbc.{adapter}.{}.{k}", plan.xbc_conns);
        let (tput, cpu) = (format!("{p}.deliveries_per_sec"), format!("{p}.per_cpu"));
        let r = ratio(m("switchboard", &tput), m("node", &tput), true);
        let rc = ratio(m("switchboard", &cpu), m("node", &cpu), true);
        let per_run = run_ratios(samples, &cpu, "node");
        let _ = writeln!(
            g,
            "| Cross-node broadcast on Redis ({adapter}), most in flight, vs Node, per server \
             CPU-second | ≥ 3× | {} | {} | {} | {} |",
            fmt_ratio(r),
            fmt_ratio(rc),
            check(rc, rc.is_some_and(|r| r >= 3.0)),
            runs_met(per_run.as_deref(), |v| v >= 3.0, |v| fmt_ratio(Some(v)))
        );
    }
    // Second round: the default connection path, polling and fan-out near the ceiling.
    let mut per_cpu_goals = vec![
        (
            "Default-mode connections vs socketioxide",
            "storm_default".to_owned(),
            "socketioxide",
            2.0,
        ),
        ("Default-mode connections vs Node", "storm_default".to_owned(), "node", 6.0),
    ];
    for n in &plan.polling_clients {
        per_cpu_goals.push((
            "Polling echo + ack vs socketioxide",
            format!("polling.{n}"),
            "socketioxide",
            2.0,
        ));
    }
    for (label, prefix, other, target) in per_cpu_goals {
        let (tput, cpu) = if prefix.starts_with("polling") {
            (format!("{prefix}.acks_per_sec"), format!("{prefix}.per_cpu"))
        } else {
            (format!("{prefix}.per_sec"), format!("{prefix}.per_cpu"))
        };
        let what = match prefix.strip_prefix("polling.") {
            Some(n) => format!("{label}, {n} clients, per server CPU-second"),
            None => format!("{label}, per server CPU-second"),
        };
        let r = ratio(m("switchboard", &tput), m(other, &tput), true);
        let rc = ratio(m("switchboard", &cpu), m(other, &cpu), true);
        let per_run = run_ratios(samples, &cpu, other);
        let _ = writeln!(
            g,
            "| {what} | ≥ {target}× | {} | {} | {} | {} |",
            fmt_ratio(r),
            fmt_ratio(rc),
            check(rc, rc.is_some_and(|r| r >= target)),
            runs_met(per_run.as_deref(), |v| v >= target, |v| fmt_ratio(Some(v)))
        );
    }
    for n in &plan.polling_clients {
        // At the same rate: the paced step (the closed loop runs each server at its own rate).
        let rate = plan.polling_rate;
        let key = format!("{}.p99_us", crate::report::polling_prefix(*n, Some(rate)));
        let (ours, theirs) = (m("switchboard", &key), m("socketioxide", &key));
        let ok = matches!((ours, theirs), (Some(o), Some(t)) if o <= t);
        let per_run = run_ratios(samples, &key, "socketioxide");
        let _ = writeln!(
            g,
            "| Polling round trip p99 at {rate}/s, {n} clients, vs socketioxide's | ≤ theirs | {} (theirs {}) | | {} | {} |",
            fmt(ours, Unit::Micros),
            fmt(theirs, Unit::Micros),
            check(ours.and(theirs), ok),
            runs_met(per_run.as_deref(), |v| v <= 1.0, |v| fmt_ratio(Some(v)))
        );
    }
    for c in [1000, 10_000] {
        let Some(k) = plan.bc_inflight.last() else { break };
        let key = format!("bc.{c}.{k}.deliveries_per_sec");
        let (ours, ceiling) = (m("switchboard", &key), m("raw-batched", &key));
        let share = match (ours, ceiling) {
            (Some(o), Some(c)) if c > 0.0 => Some(o / c),
            _ => None,
        };
        let per_run = {
            let (o, r) = (runs(samples, "switchboard", &key), runs(samples, "raw-batched", &key));
            (!o.is_empty() && o.len() == r.len()).then(|| {
                o.iter().zip(r).map(|(o, r)| o / r.max(f64::MIN_POSITIVE)).collect::<Vec<_>>()
            })
        };
        let pct = |v: f64| format!("{:.0} %", v * 100.0);
        let _ = writeln!(
            g,
            "| Broadcast to {c}, {k} in flight, share of the batched raw TCP ceiling | ≥ 80 % | {} | | {} | {} |",
            share.map_or_else(|| "—".to_owned(), pct),
            check(share, share.is_some_and(|v| v >= 0.8)),
            runs_met(per_run.as_deref(), |v| v >= 0.8, pct)
        );
    }
    let p99 = m("switchboard", "echo.40000.p99_us");
    let _ = writeln!(
        g,
        "| Echo + ack p99 at 40k acks/s | ≤ 0.3 ms | {} | | {} | {} |",
        fmt(p99, Unit::Micros),
        check(p99, p99.is_some_and(|v| v <= 300.0)),
        runs_met(
            Some(runs(samples, "switchboard", "echo.40000.p99_us")),
            |v| v <= 300.0,
            |v| { fmt(Some(v), Unit::Micros) }
        )
    );
    let mut floors = Vec::new();
    let mut prefixes = vec![("default-mode connections".to_owned(), "storm_default".to_owned())];
    for n in &plan.polling_clients {
        prefixes.push((format!("polling echo, {n} clients"), format!("polling.{n}")));
    }
    for (what, prefix) in prefixes {
        let cpu = format!("{prefix}.per_cpu");
        let share = m("switchboard", &format!("{prefix}.kernel_share"));
        if let Some(limit) = kernel_limit(m("switchboard", &cpu), share, m("socketioxide", &cpu)) {
            floors.push(format!("{what} {limit:.2}×"));
        }
    }
    if !floors.is_empty() {
        let _ = writeln!(
            g,
            concat!(
                "\nThe kernel's part of our CPU time (the system calls and the TCP stack) bounds ",
                "what any server code can reach per CPU-second: with our own code free, the most ",
                "against socketioxide would be {}."
            ),
            floors.join(", ")
        );
    }
    g
}

/// The most `ours` events per CPU-second could be against `theirs` if none of our CPU time but
/// the kernel's `share` of it were left: our kernel time per event against their whole time.
fn kernel_limit(ours: Option<f64>, share: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    let (o, k, t) = (ours?, share?, theirs?);
    (o > 0.0 && k > 0.0 && t > 0.0).then(|| o / (t * k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(entries: &[(&str, &str, &[f64])]) -> Samples {
        let mut s = Samples::default();
        for (server, key, values) in entries {
            s.entry((*server).to_owned()).or_default().insert((*key).to_owned(), values.to_vec());
        }
        s
    }

    #[test]
    fn the_kernel_limit_is_our_kernel_time_against_their_whole_time() {
        // Ours: 50k events per CPU-second, 70 % of it in the kernel: 14 µs of kernel time per
        // event. Theirs: 40k per CPU-second, 25 µs per event: at most 25 / 14 = 1.79×.
        let limit = kernel_limit(Some(50_000.0), Some(0.7), Some(40_000.0)).unwrap();
        assert!((limit - 1.7857).abs() < 1e-3, "{limit}");
        assert_eq!(kernel_limit(Some(50_000.0), None, Some(40_000.0)), None);
        assert_eq!(kernel_limit(Some(50_000.0), Some(0.0), Some(40_000.0)), None);
        let s = samples(&[
            ("switchboard", "storm_default.per_cpu", &[50_000.0]),
            ("switchboard", "storm_default.kernel_share", &[0.7]),
            ("socketioxide", "storm_default.per_cpu", &[40_000.0]),
        ]);
        let t = table(&Plan::new(true), &s);
        assert!(
            t.contains(
                "bounds what any server code can reach per CPU-second: with our own code free, \
                 the most against socketioxide would be default-mode connections 1.79×."
            ),
            "{t}"
        );
    }

    #[test]
    fn runs_pair_up_by_index_and_count_what_met() {
        let s = samples(&[
            ("switchboard", "echo.max.acks_per_sec", &[300.0, 200.0, 260.0]),
            ("socketioxide", "echo.max.acks_per_sec", &[100.0, 100.0, 100.0]),
        ]);
        let r = run_ratios(&s, "echo.max.acks_per_sec", "socketioxide");
        assert_eq!(r, Some(vec![3.0, 2.0, 2.6]));
        let shown = runs_met(r.as_deref(), |v| v >= 2.5, |v| fmt_ratio(Some(v)));
        assert_eq!(shown, "2 of 3 (2.00×–3.00×)");
        let t = table(&Plan::new(true), &s);
        assert!(t.contains("| 2.60× | — | met | 2 of 3 (2.00×–3.00×) |"), "{t}");
    }

    #[test]
    fn the_cross_node_goal_is_judged_per_cpu_second() {
        let s = samples(&[
            ("switchboard", "xbc.redis.1000.16.deliveries_per_sec", &[60.0, 60.0]),
            ("node", "xbc.redis.1000.16.deliveries_per_sec", &[30.0, 30.0]),
            ("switchboard", "xbc.redis.1000.16.per_cpu", &[400.0, 200.0]),
            ("node", "xbc.redis.1000.16.per_cpu", &[100.0, 100.0]),
        ]);
        let mut plan = Plan::new(true);
        plan.cluster_adapters = vec!["redis".to_owned()];
        let t = table(&plan, &s);
        assert!(
            t.contains("vs Node, per server CPU-second | ≥ 3× | 2.00× | 3.00× | met | 1 of 2 (2.00×–4.00×) |"),
            "{t}"
        );
    }

    #[test]
    fn runs_that_do_not_pair_up_are_not_compared() {
        let s = samples(&[
            ("switchboard", "storm.per_sec", &[3.0, 2.0]),
            ("socketioxide", "storm.per_sec", &[1.0]),
        ]);
        assert_eq!(run_ratios(&s, "storm.per_sec", "socketioxide"), None);
        assert_eq!(runs_met(None, |_| true, |v| v.to_string()), "—");
    }
}
