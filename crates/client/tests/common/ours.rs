//! Runs this workspace's own Socket.IO server (the `switchboard` crate) in process, and restarts
//! it on the same port.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

/// A running in-process server.
pub struct OurServer {
    /// The server, to reach its namespaces and sockets.
    pub io: switchboard::SocketIo,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    task: JoinHandle<()>,
}

/// Binds 127.0.0.1:`port` (0 for any) with `SO_REUSEADDR`, so that a restarted server gets
/// the port of the stopped one back although its connections linger in `TIME_WAIT`.
pub fn bind(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("tcp socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port))).expect("bind 127.0.0.1");
    socket.listen(1024).expect("listen")
}

/// Serves `io` on 127.0.0.1:`port` (0 for any).
pub fn serve_on(io: switchboard::SocketIo, port: u16) -> OurServer {
    let listener = bind(port);
    let port = listener.local_addr().expect("local address").port();
    let server = io.clone();
    // Accepts connections until `stop` aborts it (which closes the listener).
    let task = tokio::spawn(async move {
        let _ = server.serve(listener).await;
    });
    OurServer { io, port, task }
}

impl OurServer {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every connection (the clients see `transport close`) and the listener.
    pub async fn stop(self) {
        self.io.close().await;
        self.task.abort();
        let _ = self.task.await;
    }
}
