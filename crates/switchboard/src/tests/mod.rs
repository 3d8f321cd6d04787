//! Unit tests of the Socket.IO layer over a fake Engine.IO connection.

mod acks;
mod api;
mod broadcast;
mod capture;
mod connect_order;
mod harness;
mod lifecycle;
mod order;
mod protocol;
mod recovery;
mod volatile;
