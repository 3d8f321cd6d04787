//! Dynamic namespaces: `io.of(/regex/)` and `io.of(fn)`.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use crate::handler::{Handler, Middleware};
use crate::namespace::Hooks;
use crate::{EmitError, Namespace};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A predicate on a namespace name and the CONNECT auth.
type Accept = Arc<dyn Fn(&str, &Value) -> bool + Send + Sync>;

/// How a dynamic namespace recognizes its children.
pub(crate) enum Matcher {
    Regex(regex::Regex),
    Fn(Accept),
}

pub(crate) struct ParentInner {
    pub(crate) matcher: Matcher,
    pub(crate) hooks: Arc<Hooks>,
    // Children created on demand by client tasks, read by parent-wide emits.
    pub(crate) children: Mutex<Vec<Namespace>>,
}

/// A dynamic namespace (Node's `io.of(/regex/)` or `io.of(fn)`): its handlers and middleware
/// apply to every child namespace created when a client connects to a matching name.
///
/// ```
/// use switchboard::prelude::*;
/// use switchboard::testing::TestClient;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::new(Default::default());
/// let rooms = io.of_regex(regex::Regex::new(r"^/room-\d+$")?);
/// rooms.on_connection(|socket: Socket| async move { socket.emit("welcome", socket.ns()) });
/// let mut client = TestClient::connect_to(&io, "/room-7", serde_json::Value::Null).await?;
/// assert_eq!(client.recv().await?.data::<String>()?, "/room-7");
/// assert_eq!(rooms.children().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ParentNamespace(pub(crate) Arc<ParentInner>);

impl std::fmt::Debug for ParentNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentNamespace").field("children", &self.children().len()).finish()
    }
}

impl ParentNamespace {
    /// Adds a connection handler for every child.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// // One namespace per tenant: `/tenant-acme`, `/tenant-globex`, ...
    /// let tenants = io.of_fn(|name, _auth| name.starts_with("/tenant-"));
    /// tenants.on_connection(|socket: Socket| async move {
    ///     socket.on("whereami", |s: Socket| async move {
    ///         Ok::<_, HandlerError>(s.ns().to_owned())
    ///     })
    /// });
    /// let mut acme = TestClient::connect_to(&io, "/tenant-acme", serde_json::Value::Null).await?;
    /// assert_eq!(acme.emit_with_ack("whereami", &()).await?.data::<String>()?, "/tenant-acme");
    /// # Ok(()) }
    /// ```
    pub fn on_connection<H: Handler<A>, A: 'static>(&self, handler: H) {
        self.0.hooks.on_connection(handler);
    }

    /// Adds a connect middleware for every child.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::{TestClient, TestError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let tenants = io.of_regex(regex::Regex::new(r"^/tenant-\w+$")?);
    /// // Every child checks the token.
    /// tenants.use_middleware(|Data(auth): Data<serde_json::Value>| async move {
    ///     match auth["token"].as_str() {
    ///         Some("secret") => Ok(()),
    ///         _ => Err(MiddlewareError::new("bad token")),
    ///     }
    /// });
    /// let refused = TestClient::connect_to(&io, "/tenant-acme", serde_json::json!({})).await;
    /// let Err(TestError::Refused { message, .. }) = refused else { panic!("not refused") };
    /// assert_eq!(message, "bad token");
    /// let auth = serde_json::json!({"token": "secret"});
    /// assert!(TestClient::connect_to(&io, "/tenant-acme", auth).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn use_middleware<M: Middleware<A>, A: 'static>(&self, middleware: M) {
        self.0.hooks.use_middleware(middleware);
    }

    /// The child namespaces created so far.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let tenants = io.of_regex(regex::Regex::new(r"^/tenant-\w+$")?);
    /// assert!(tenants.children().is_empty()); // made when a client first connects
    /// let _acme = TestClient::connect_to(&io, "/tenant-acme", serde_json::Value::Null).await?;
    /// let _globex = TestClient::connect_to(&io, "/tenant-globex", serde_json::Value::Null).await?;
    /// let mut names: Vec<String> =
    ///     tenants.children().iter().map(|ns| ns.name().to_owned()).collect();
    /// names.sort();
    /// assert_eq!(names, ["/tenant-acme", "/tenant-globex"]);
    /// # Ok(()) }
    /// ```
    pub fn children(&self) -> Vec<Namespace> {
        lock(&self.0.children).clone()
    }

    /// Emits to every socket of every child.
    ///
    /// ```
    /// use switchboard::prelude::*;
    /// use switchboard::testing::TestClient;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = SocketIo::new(Default::default());
    /// let tenants = io.of_regex(regex::Regex::new(r"^/tenant-\w+$")?);
    /// let mut acme = TestClient::connect_to(&io, "/tenant-acme", serde_json::Value::Null).await?;
    /// let mut globex =
    ///     TestClient::connect_to(&io, "/tenant-globex", serde_json::Value::Null).await?;
    /// tenants.emit("maintenance", "at noon").await?;
    /// assert_eq!(acme.recv().await?.data::<String>()?, "at noon");
    /// assert_eq!(globex.recv().await?.data::<String>()?, "at noon");
    /// # Ok(()) }
    /// ```
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        for child in self.children() {
            child.emit(event, data).await?;
        }
        Ok(())
    }
}
