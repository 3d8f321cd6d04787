//! `switchboard-bench`: a load generator for Engine.IO v4 / Socket.IO v5 servers and the runner
//! that compares servers side by side.
//!
//! The generator is built so that it is not the bottleneck: one mio event loop per process drives
//! every connection (no task per connection, no runtime, no wakers), client frames are masked with
//! a fixed key and encoded once where the payload is fixed, writes are batched per connection per
//! wake-up, connections come from 64 loopback source addresses, latency is measured from the
//! intended send time of an open-loop schedule, and handshakes in flight are capped.
//!
//! ```
//! use switchboard_bench::{packet, ws};
//!
//! let mut payload = Vec::new();
//! packet::write_echo(&mut payload, 7);
//! let mut frame = Vec::new();
//! ws::encode_masked(&mut frame, ws::OP_TEXT, &payload, [1, 2, 3, 4]);
//! let header = ws::parse_header(&frame).unwrap();
//! assert_eq!(header.payload_len, payload.len());
//! ```

pub mod arena;
pub mod chart;
pub mod chat;
pub mod chat_wire;
pub mod cpu;
pub mod figures;
pub mod goals;
pub mod hist;
pub mod host;
pub mod http;
pub mod net;
pub mod packet;
pub mod polling;
pub mod pool;
pub mod raw;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod soak;
pub mod stall;
pub mod upgrade;
pub mod wire;
pub mod ws;
