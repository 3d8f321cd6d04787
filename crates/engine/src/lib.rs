//! Engine.IO v4 server over hyper 1 and tokio.
