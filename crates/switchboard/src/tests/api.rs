//! The server API over the fake connection.
