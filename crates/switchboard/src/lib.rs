//! Socket.IO v5 server for Rust.
