//! One reading of the server's numbers, and the sample pushed to the page (a reading with
//! the rates since the previous one).

use std::time::Instant;

use serde::Serialize;
use switchboard::NamespaceStats;

use crate::apps::AppContext;
use crate::config::Database;
use crate::store::now_ms;

/// Clock ticks per second of `/proc/self/stat` (Linux's `USER_HZ`, 100 for user space on
/// every architecture it supports).
const USER_HZ: f64 = 100.0;

/// What one reading holds.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    at: Instant,
    ts: i64,
    clients: usize,
    namespaces: Vec<NamespaceStats>,
    counters: Counters,
    rss_bytes: Option<u64>,
    cpu_seconds: Option<f64>,
    store: StoreState,
    adapter: AdapterState,
}

/// The library's counters and gauges, from the process-wide recorder.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// Event packets received (`event` and `binary_event`).
    messages_in: u64,
    /// Event packets queued to send.
    messages_out: u64,
    bytes_in: u64,
    bytes_out: u64,
    polling: u64,
    websocket: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreState {
    backend: &'static str,
    ok: bool,
    /// A round trip to the store thread, with its commit.
    round_trip_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdapterState {
    /// `memory` (one node) or the Redis adapter's kind.
    kind: String,
    /// The link to Redis (cluster mode): `connected` or `reconnecting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<&'static str>,
    /// Publishes queued while Redis is unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    queued: Option<usize>,
}

/// The sample pushed to the page.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sample<'a> {
    ts: i64,
    /// Samples taken since the start.
    ticks: u64,
    connections: Connections,
    namespaces: &'a [NamespaceStats],
    rooms: usize,
    messages: Flow,
    bytes: Flow,
    memory: Memory,
    cpu: Cpu,
    store: &'a StoreState,
    adapter: &'a AdapterState,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Connections {
    total: usize,
    polling: u64,
    websocket: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Flow {
    in_total: u64,
    out_total: u64,
    /// Per second since the previous sample (absent in the first one).
    in_per_sec: Option<f64>,
    out_per_sec: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Memory {
    rss_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cpu {
    /// Process CPU time (user + system) since the start.
    seconds: Option<f64>,
    /// Share of one core since the previous sample.
    percent: Option<f64>,
}

impl Reading {
    /// Reads everything now.
    pub(crate) async fn take(cx: &AppContext) -> Reading {
        let (clients, namespaces) = match cx.io.stats().await {
            Ok(stats) => (stats.clients, stats.namespaces),
            Err(error) => {
                tracing::debug!(%error, "stats unavailable for the dashboard");
                (0, Vec::new())
            }
        };
        let counters =
            crate::ops::render_metrics().map(|text| Counters::parse(&text)).unwrap_or_default();
        let started = Instant::now();
        let ok = cx.store.call(|_| Ok(())).await.is_ok();
        let store = StoreState {
            backend: match cx.config.database {
                Database::Sqlite(_) => "sqlite",
                Database::Postgres(_) => "postgres",
            },
            ok,
            round_trip_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        let link = crate::ops::redis_link();
        let adapter = AdapterState {
            kind: match &cx.config.cluster {
                Some(cluster) => format!("{:?}", cluster.adapter).to_lowercase(),
                None => "memory".to_owned(),
            },
            link: link.map(|l| match l.state {
                switchboard_redis::LinkState::Connected => "connected",
                _ => "reconnecting",
            }),
            queued: link.map(|l| l.queued),
        };
        Reading {
            at: Instant::now(),
            ts: now_ms(),
            clients,
            namespaces,
            counters,
            rss_bytes: read_rss(),
            cpu_seconds: read_cpu_seconds(),
            store,
            adapter,
        }
    }

    /// The sample of this reading, with the rates since `previous`.
    pub(crate) fn sample<'a>(&'a self, previous: Option<&Reading>, ticks: u64) -> Sample<'a> {
        let elapsed = previous.map(|p| self.at.duration_since(p.at).as_secs_f64());
        let rate = |now: u64, before: Option<u64>| match (elapsed, before) {
            (Some(secs), Some(before)) if secs > 0.0 => {
                Some(now.saturating_sub(before) as f64 / secs)
            }
            _ => None,
        };
        let c = &self.counters;
        let p = previous.map(|p| &p.counters);
        let percent = match (elapsed, self.cpu_seconds, previous.and_then(|p| p.cpu_seconds)) {
            (Some(secs), Some(now), Some(before)) if secs > 0.0 => {
                Some(((now - before) / secs * 100.0).max(0.0))
            }
            _ => None,
        };
        Sample {
            ts: self.ts,
            ticks,
            connections: Connections {
                total: self.clients,
                polling: c.polling,
                websocket: c.websocket,
            },
            namespaces: &self.namespaces,
            rooms: self.namespaces.iter().map(|n| n.rooms).sum(),
            messages: Flow {
                in_total: c.messages_in,
                out_total: c.messages_out,
                in_per_sec: rate(c.messages_in, p.map(|p| p.messages_in)),
                out_per_sec: rate(c.messages_out, p.map(|p| p.messages_out)),
            },
            bytes: Flow {
                in_total: c.bytes_in,
                out_total: c.bytes_out,
                in_per_sec: rate(c.bytes_in, p.map(|p| p.bytes_in)),
                out_per_sec: rate(c.bytes_out, p.map(|p| p.bytes_out)),
            },
            memory: Memory { rss_bytes: self.rss_bytes },
            cpu: Cpu { seconds: self.cpu_seconds, percent },
            store: &self.store,
            adapter: &self.adapter,
        }
    }
}

impl Counters {
    /// Reads the library's metrics from Prometheus text.
    fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            // Counters and gauges of whole numbers.
            let value = if value.is_finite() && value > 0.0 { value as u64 } else { 0 };
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let event =
                labels.contains("type=\"event\"") || labels.contains("type=\"binary_event\"");
            match name {
                "switchboard_packets_received_total" if event => c.messages_in += value,
                "switchboard_packets_sent_total" if event => c.messages_out += value,
                "switchboard_bytes_received_total" => c.bytes_in += value,
                "switchboard_bytes_sent_total" => c.bytes_out += value,
                "switchboard_connections" if labels.contains("transport=\"polling\"") => {
                    c.polling += value;
                }
                "switchboard_connections" if labels.contains("transport=\"websocket\"") => {
                    c.websocket += value;
                }
                _ => {}
            }
        }
        c
    }
}

/// The resident set size, from `/proc/self/status` (`VmRSS`, in kB).
fn read_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_rss(&status)
}

fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// User + system CPU time of the process, from `/proc/self/stat`.
fn read_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu_seconds(&stat)
}

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: fields after its last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_from_prometheus_text() {
        let text = "# TYPE switchboard_packets_received_total counter\n\
            switchboard_packets_received_total{type=\"event\"} 7\n\
            switchboard_packets_received_total{type=\"binary_event\"} 2\n\
            switchboard_packets_received_total{type=\"connect\"} 5\n\
            switchboard_packets_sent_total{type=\"event\"} 11\n\
            switchboard_bytes_received_total 300\n\
            switchboard_connections{transport=\"websocket\"} 3\n\
            switchboard_connections{transport=\"polling\"} 1\n\
            garbage line\n";
        let c = Counters::parse(text);
        assert_eq!(
            c,
            Counters {
                messages_in: 9,
                messages_out: 11,
                bytes_in: 300,
                bytes_out: 0,
                polling: 1,
                websocket: 3,
            }
        );
    }

    #[test]
    fn memory_and_cpu_from_proc() {
        assert_eq!(parse_rss("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        assert_eq!(parse_rss("Name:\tx\n"), None);
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("garbage"), None);
        // The running test process has both.
        assert!(read_rss().is_some_and(|b| b > 0));
        assert!(read_cpu_seconds().is_some());
    }
}
