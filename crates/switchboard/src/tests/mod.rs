//! Unit tests of the Socket.IO layer over a fake Engine.IO connection.

mod api;
mod harness;
mod protocol;
