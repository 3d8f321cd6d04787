//! A small blocking wrapper, for programs without an async runtime.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchboard_proto::socket::Payload;
use tokio::sync::oneshot;

use crate::{AckError, ClientOptions, ConnectError, Error, Socket, io};

/// A connected [`Socket`] driven by a runtime on a background thread.
///
/// [`BlockingClient::connect`] returns once the namespace is joined; listeners registered on
/// [`BlockingClient::socket`] run on the background thread.
///
/// ```no_run
/// use std::time::Duration;
/// use switchboard_client::ClientOptions;
/// use switchboard_client::blocking::BlockingClient;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = BlockingClient::connect("http://127.0.0.1:3000", ClientOptions::default())?;
/// client.socket().emit("hello", &("world",))?;
/// let (sum,): (u32,) = client.emit_with_ack("add", &(1, 2), Duration::from_secs(5))?;
/// # let _ = sum;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct BlockingClient {
    socket: Socket,
    runtime: tokio::runtime::Handle,
    /// Dropping it stops the background runtime.
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BlockingClient {
    /// Connects to the namespace named by `url`'s path, waiting at most `options.timeout`.
    pub fn connect(url: &str, options: ClientOptions) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let handle = runtime.handle().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        // The thread runs the runtime (and so the manager task) until `shutdown` is sent or
        // dropped, when the client is dropped.
        let thread = std::thread::Builder::new()
            .name("switchboard-client".into())
            .spawn(move || {
                let _ = runtime.block_on(stop);
            })
            .map_err(Error::Runtime)?;
        let timeout = options.timeout;
        let socket = {
            let _guard = handle.enter();
            io(url, options)?
        };
        let mut client = BlockingClient {
            socket,
            runtime: handle,
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        let (tx, rx) = std_mpsc::channel::<Result<(), ConnectError>>();
        let ok = tx.clone();
        let on_connect = client.socket.on_connect(move || {
            let _ = ok.send(Ok(()));
        });
        let on_error = client.socket.on_connect_error(move |e| {
            let _ = tx.send(Err(e.clone()));
        });
        client.socket.connect();
        let outcome = rx.recv_timeout(timeout);
        client.socket.remove_listener(on_connect);
        client.socket.remove_listener(on_error);
        match outcome {
            Ok(Ok(())) => Ok(client),
            Ok(Err(e)) => {
                client.close();
                Err(Error::Connect(e))
            }
            Err(_) => {
                client.close();
                Err(Error::Timeout)
            }
        }
    }

    /// The socket: `emit`, listeners and state are used as with the async API.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Emits and blocks until the acknowledgement, at most `timeout`.
    pub fn emit_with_ack<T, R>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<R, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = Payload::spread(args).map_err(Error::Serialize)?;
        let (tx, rx) = std_mpsc::channel();
        let socket = self.socket.clone();
        let event = event.to_owned();
        self.runtime.spawn(async move {
            let _ = tx.send(socket.timeout(timeout).emit_with_ack_payload(&event, payload).await);
        });
        let answer = rx.recv().map_err(|_| AckError::Emit(Error::Closed))??;
        serde_json::from_value(Value::Array(answer.args().to_vec())).map_err(AckError::Deserialize)
    }

    /// Disconnects and stops the background thread.
    pub fn close(&mut self) {
        self.socket.disconnect();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BlockingClient {
    fn drop(&mut self) {
        self.close();
    }
}
