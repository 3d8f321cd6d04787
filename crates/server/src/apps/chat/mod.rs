//! The chat on namespace `/chat`: rooms, messages, receipts, typing, private messages,
//! presence. Every client → server event answers `{ ok: true, ... }` or
//! `{ ok: false, error: { code, message } }`.

mod downloads;
mod files;
mod payloads;
pub(crate) mod presence;
mod private;
mod rooms;
mod schema;
pub(crate) mod store;
pub(crate) mod typing;
mod uploads;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::extract::Context;
use switchboard::{
    Data, DisconnectReason, FromContext, HandlerError, Namespace, ReservedEventName, Socket,
};

use self::presence::{Online, Presence, Status, Update};
use self::typing::Typing;
use crate::apps::{
    ApiError, App, AppContext, Asset, Outcome, Shared, Stopping, check_room_id, fields,
    page_routes, parse, user_of,
};
use crate::auth::{User, user_room};
use crate::cluster::Link;
use crate::store::now_ms;

/// The chat app (see the module).
#[derive(Default)]
pub(crate) struct ChatApp {
    // The cluster presence link's task and the link, set by `install` (cluster mode), taken
    // by `stop`.
    link: Mutex<Option<(Link, tokio::task::JoinHandle<()>)>>,
    // The state `install` made, for `routes` (called after it); set once at start.
    chat: Mutex<Option<Chat>>,
}

/// The chat's state, shared by its handlers (they take it as an argument). Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Chat(Arc<ChatInner>);

/// The parts of [`Chat`].
pub(crate) struct ChatInner {
    /// What every app gets.
    pub(crate) cx: AppContext,
    /// Who is online in `/chat`, here and on the other nodes.
    pub(crate) presence: Arc<Presence>,
    /// Who is typing where.
    pub(crate) typing: Typing,
    /// How long a typing indicator lasts without an update.
    pub(crate) typing_timeout: Duration,
    /// How long a dropped connection keeps its user online.
    pub(crate) presence_grace: Duration,
    /// The files being uploaded to this node.
    pub(crate) uploads: uploads::Uploads,
}

impl std::ops::Deref for Chat {
    type Target = ChatInner;
    fn deref(&self) -> &ChatInner {
        &self.0
    }
}

impl Chat {
    /// The `/chat` namespace.
    pub(crate) fn chat(&self) -> Namespace {
        self.cx.of(NAMESPACE)
    }

    /// Tells the other nodes of the cluster `update` (nothing on a single node).
    pub(crate) fn tell_nodes(&self, update: Option<Update>) {
        if let (Some(link), Some(update)) = (&self.cx.cluster, update) {
            link.send(&update);
        }
    }
}

/// A handler's chat state.
impl FromContext for Chat {
    fn from_context(cx: &mut Context) -> Result<Self, HandlerError> {
        Shared::<Chat>::from_context(cx).map(|Shared(chat)| chat)
    }
}

/// The namespace of the chat.
const NAMESPACE: &str = "/chat";

const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] = &[Asset { file: "chat.js", body: include_str!("page/chat.js") }];

impl App for ChatApp {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn title(&self) -> &'static str {
        "Chat"
    }

    fn summary(&self) -> &'static str {
        "Rooms with history, read receipts, typing indicators, presence, direct messages, images and files."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        let chat = Chat(Arc::new(ChatInner {
            cx: cx.clone(),
            presence: Arc::new(Presence::default()),
            typing: Typing::default(),
            typing_timeout: cx.config.typing_timeout,
            presence_grace: cx.config.presence_grace,
            uploads: uploads::Uploads::new(
                &cx.config.data_dir,
                matches!(cx.config.database, crate::config::Database::Postgres(_)),
                cx.config.max_file_size,
                cx.config.file_types.clone(),
                cx.store_of("chat"),
            ),
        }));
        *self.chat.lock().unwrap_or_else(|e| e.into_inner()) = Some(chat.clone());
        cx.provide(chat.clone());
        install(&chat);
        // The expiry of uploads left unfinished (also by an earlier run): owned by this app,
        // it ends when the server starts shutting down.
        let expiring = chat.clone();
        tokio::spawn(async move {
            loop {
                match expiring.uploads.expire_stale().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(uploads = n, "unfinished uploads expired"),
                    Err(e) => tracing::warn!(code = e.code, "upload expiry failed"),
                }
                tokio::select! {
                    () = tokio::time::sleep(uploads::EXPIRE_EVERY) => {}
                    () = expiring.cx.shutdown.fired() => return,
                }
            }
        });
        // Cluster mode: the presence link task (owned by this app, aborted by `stop`) and
        // the task that announces what it reports (it ends when the link task drops the
        // sender).
        if let (Some(link), Some(inbox)) = (cx.cluster.clone(), cx.take_cluster_inbox()) {
            // Presence changes from the link to the announcer, in order; unbounded because
            // the link must not wait on the database the announcer reads.
            let (changes_tx, changes_rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(announce_changes(chat.clone(), changes_rx));
            let task = tokio::spawn(crate::cluster::run(
                link.clone(),
                inbox,
                chat.presence.clone(),
                cx.config.presence_ttl,
                changes_tx,
            ));
            *self.link.lock().unwrap_or_else(|e| e.into_inner()) = Some((link, task));
        }
        Ok(())
    }

    fn welcome(&self, _cx: &AppContext, base_url: &str) -> Option<String> {
        Some(format!("chat: open {base_url}/chat in two windows and sign in with two names"))
    }

    fn migrations(&self) -> crate::store::AppMigrations {
        schema::MIGRATIONS
    }

    fn routes(&self, _cx: &AppContext) -> axum::Router {
        let page = page_routes(self.name(), PAGE, ASSETS);
        let Some(chat) = self.chat.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return page;
        };
        page.merge(
            axum::Router::new()
                .route("/files/{id}", axum::routing::get(downloads::download))
                .route("/files/{id}/thumbnail", axum::routing::get(downloads::thumbnail))
                .with_state(chat),
        )
    }

    fn stop(&self) -> Stopping {
        let link = self.link.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::pin(async move {
            if let Some((link, task)) = link {
                // Every socket is closed: the other nodes had this node's users go down one
                // by one; the goodbye makes sure none is left behind.
                task.abort();
                link.bye().await;
            }
        })
    }
}

/// Event names of `/chat`, declared once.
pub(crate) mod events {
    /// Client → server: join a room.
    pub(crate) const ROOM_JOIN: &str = "room:join";
    /// Client → server: leave a room.
    pub(crate) const ROOM_LEAVE: &str = "room:leave";
    /// Client → server: send a room message.
    pub(crate) const MESSAGE_SEND: &str = "message:send";
    /// Client → server: a message reached this client.
    pub(crate) const MESSAGE_DELIVERED: &str = "message:delivered";
    /// Client → server: a message was read.
    pub(crate) const MESSAGE_READ: &str = "message:read";
    /// Both ways: typing indicator.
    pub(crate) const TYPING_UPDATE: &str = "typing:update";
    /// Client → server: older messages.
    pub(crate) const MESSAGES_HISTORY: &str = "messages:history";
    /// Client → server: a private message.
    pub(crate) const PRIVATE_SEND: &str = "private:send";
    /// Client → server: the online users.
    pub(crate) const USERS_ONLINE: &str = "users:online";
    /// Server → client: a room message.
    pub(crate) const MESSAGE_NEW: &str = "message:new";
    /// Server → client: a receipt for one of the user's messages.
    pub(crate) const MESSAGE_STATUS: &str = "message:status";
    /// Server → client: someone joined, left, came online or went offline.
    pub(crate) const PRESENCE_UPDATE: &str = "presence:update";
    /// Server → client: a private message (acknowledge it to have it removed from storage).
    pub(crate) const PRIVATE_NEW: &str = "private:new";
    /// Server → client: who this connection is and its rooms.
    pub(crate) const SESSION: &str = "session";
    /// Client → server: start sharing a file in a room.
    pub(crate) const FILE_BEGIN: &str = "file:begin";
    /// Client → server: a chunk of a file (a binary attachment).
    pub(crate) const FILE_CHUNK: &str = "file:chunk";
    /// Client → server: how much of an upload the server has.
    pub(crate) const FILE_STATUS: &str = "file:status";
    /// Client → server: the upload is complete; post it to the room.
    pub(crate) const FILE_END: &str = "file:end";
}

/// The Socket.IO room of a chat room.
pub(crate) fn room_key(room_id: &str) -> String {
    format!("room:{room_id}")
}

/// Sets up `/chat`.
fn install(app: &Chat) {
    let ns = app.chat();
    crate::apps::authenticate(&ns);
    ns.on_connection(|socket: Socket, app: Chat| async move {
        if let Err(e) = connected(&app, &socket).await {
            tracing::warn!(code = e.code, message = %e.message, "chat connection setup failed");
        }
    });
}

/// Sets up a connection. A recovered socket (connection state recovery) kept its id, rooms
/// and user, and got the room messages it missed replayed: its drop was held by presence (no
/// `offline`, no new `online`), and it is only brought up to date with what the replay cannot
/// carry: rooms joined or left meanwhile from another tab, and private messages still
/// unacknowledged (sent with an ack, so never replayed).
async fn connected(app: &Chat, socket: &Socket) -> Result<(), ApiError> {
    let user = user_of(socket)?;
    register(socket).map_err(|e| ApiError::new("internal", e.to_string()))?;
    socket.join(user.room());
    let change = match socket.recovered() {
        true => app.presence.resume(socket.id().as_str(), &user),
        false => app.presence.connect(&user),
    };
    app.tell_nodes(change.update);
    let on_close = app.clone();
    socket.on_disconnect(move |socket: Socket, reason: DisconnectReason| {
        let app = on_close.clone();
        async move { disconnected(&app, &socket, reason).await }
    });
    if let Err(error) = set_up(app, socket, &user, change.anywhere).await {
        if error.code != "unavailable" {
            return Err(error);
        }
        // The database is away: the socket stays connected and gets its rooms, `session`
        // and pending private messages once it is back. The retry task ends then, when the
        // socket leaves, or when the server starts shutting down.
        let (app, socket) = (app.clone(), socket.clone());
        tokio::spawn(async move {
            let mut wait = SETUP_RETRY_MIN;
            while socket.connected() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = app.cx.shutdown.fired() => return,
                }
                match set_up(&app, &socket, &user, change.anywhere).await {
                    Err(e) if e.code == "unavailable" => wait = (wait * 2).min(SETUP_RETRY_MAX),
                    Err(e) => {
                        tracing::warn!(code = e.code, "chat connection setup failed");
                        return;
                    }
                    Ok(()) => return,
                }
            }
        });
    }
    Ok(())
}

/// The first wait before setting a connection up again while the database is away.
const SETUP_RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(250);
/// The longest wait between two attempts.
const SETUP_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(4);

/// The store part of a connection's setup: the user's rooms, `session`, the `online`
/// announcement if the user just came online, the pending private messages.
async fn set_up(
    app: &Chat,
    socket: &Socket,
    user: &User,
    came_online: bool,
) -> Result<(), ApiError> {
    let (id, name) = (user.id.clone(), user.username.clone());
    let rooms = app
        .cx
        .store
        .call(move |s| {
            s.upsert_user(&id, &name, now_ms())?;
            s.user_rooms(&id)
        })
        .await?;
    if socket.recovered() {
        let kept: std::collections::HashSet<String> = rooms.iter().map(|r| room_key(r)).collect();
        let left = socket
            .rooms()
            .into_iter()
            .filter(|r| r.as_str().starts_with("room:") && !kept.contains(r.as_str()));
        socket.leave_all(left);
    }
    socket.join_all(rooms.iter().map(|r| room_key(r)));
    let session = payloads::Session { user_id: &user.id, username: &user.username, rooms: &rooms };
    if let Err(error) = socket.emit(events::SESSION, &session) {
        tracing::debug!(%error, "session not sent");
    }
    if came_online {
        announce_here(app, user, &rooms, Status::Online).await;
    }
    private::deliver_pending(app, socket, user).await
}

/// Whether a drop may be a short cut the client comes back from (its network, not a
/// deliberate disconnect nor the server stopping).
fn is_cut(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TransportClose
            | DisconnectReason::TransportError
            | DisconnectReason::PingTimeout
            | DisconnectReason::SessionTakenOver
    )
}

async fn disconnected(app: &Chat, socket: &Socket, reason: DisconnectReason) {
    let Ok(user) = user_of(socket) else { return };
    if is_cut(reason) && !app.presence_grace.is_zero() {
        let generation = app.presence.hold(socket.id().as_str(), &user.id);
        // The presence grace timer: ends after `presence_grace`; the user goes offline only
        // if this connection was neither recovered nor dropped again meanwhile.
        let (app, sid) = (app.clone(), socket.id().as_str().to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(app.presence_grace).await;
            let change = app.presence.release(&sid, generation);
            app.tell_nodes(change.update);
            if change.anywhere {
                went_offline(&app, &user).await;
            }
        });
        return;
    }
    let change = app.presence.disconnect(&user.id);
    app.tell_nodes(change.update);
    if change.anywhere {
        went_offline(app, &user).await;
    }
}

async fn went_offline(app: &Chat, user: &User) {
    let id = user.id.clone();
    match app.cx.store.call(move |s| s.user_rooms(&id)).await {
        Ok(rooms) => announce_here(app, user, &rooms, Status::Offline).await,
        Err(error) => tracing::warn!(%error, "cannot announce a user going offline"),
    }
}

/// Announces the presence changes the cluster link reports (users of other nodes), one
/// after the other, to this node's sockets; ends when the link ends.
async fn announce_changes(
    app: Chat,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<Vec<(Online, Status)>>,
) {
    while let Some(list) = changes.recv().await {
        for (online, status) in list {
            let user = online.user();
            let id = user.id.clone();
            match app.cx.store.call(move |s| s.user_rooms(&id)).await {
                Ok(rooms) => announce_here(&app, &user, &rooms, status).await,
                Err(error) => tracing::warn!(%error, "cannot announce a presence change"),
            }
        }
    }
}

/// Sends `presence:update` with `status` to every room of `user` (but not to the user), on
/// every node: someone joined or left a room.
pub(crate) async fn announce(app: &Chat, user: &User, rooms: &[String], status: &str) {
    for room in rooms {
        let to = app.chat().to(room_key(room)).except(user.room());
        send_presence(to, user, room, status).await;
    }
}

/// Sends `presence:update` for a user who came online or went offline, to the sockets of
/// this node only: every node of a cluster sees the change and announces it itself.
async fn announce_here(app: &Chat, user: &User, rooms: &[String], status: Status) {
    for room in rooms {
        let to = app.chat().local().to(room_key(room)).except(user.room());
        send_presence(to, user, room, status.as_str()).await;
    }
}

async fn send_presence(to: switchboard::BroadcastOperator, user: &User, room: &str, status: &str) {
    let update = payloads::PresenceUpdate {
        room_id: room,
        user_id: &user.id,
        username: &user.username,
        status,
    };
    if let Err(error) = to.emit(events::PRESENCE_UPDATE, &update).await {
        tracing::debug!(%error, "presence update not sent");
    }
}

fn register(socket: &Socket) -> Result<(), ReservedEventName> {
    socket.on(events::ROOM_JOIN, rooms::join)?;
    socket.on(events::ROOM_LEAVE, rooms::leave)?;
    socket.on(events::MESSAGE_SEND, rooms::send)?;
    socket.on(events::MESSAGE_DELIVERED, |app: Chat, user: User, Data(data): Data<Value>| {
        rooms::receipt(app, user, data, "delivered")
    })?;
    socket.on(events::MESSAGE_READ, |app: Chat, user: User, Data(data): Data<Value>| {
        rooms::receipt(app, user, data, "read")
    })?;
    socket.on(events::MESSAGES_HISTORY, rooms::history)?;
    socket.on(events::TYPING_UPDATE, typing)?;
    socket.on(events::PRIVATE_SEND, private::send)?;
    socket.on(events::FILE_BEGIN, files::begin)?;
    socket.on(events::FILE_CHUNK, files::chunk)?;
    socket.on(events::FILE_STATUS, files::status)?;
    socket.on(events::FILE_END, files::end)?;
    socket.on(events::USERS_ONLINE, |app: Chat, _user: User| async move {
        Outcome::Ok(fields(json!({ "users": app.presence.list() })))
    })?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypingUpdate {
    room_id: String,
    is_typing: bool,
}

async fn typing(app: Chat, _socket: Socket, user: User, Data(data): Data<Value>) -> Outcome {
    let req: TypingUpdate = parse(data)?;
    check_room_id(&req.room_id)?;
    let (room, id) = (req.room_id.clone(), user.id.clone());
    if !app.cx.store.call(move |s| s.is_member(&room, &id)).await? {
        return Err(not_member());
    }
    if req.is_typing {
        let generation = app.typing.start(&user.id, &req.room_id);
        // The auto-stop timer: ends after `typing_timeout`; stops the indicator only if no
        // newer update came meanwhile.
        let timer_app = app.clone();
        let (user, room) = (user.clone(), req.room_id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(timer_app.typing_timeout).await;
            if timer_app.typing.expire(&user.id, &room, generation) {
                send_typing(&timer_app, &user, &room, false).await;
            }
        });
    } else {
        app.typing.stop(&user.id, &req.room_id);
    }
    send_typing(&app, &user, &req.room_id, req.is_typing).await;
    Ok(fields(json!({})))
}

async fn send_typing(app: &Chat, user: &User, room_id: &str, is_typing: bool) {
    let update =
        payloads::TypingNotice { room_id, user_id: &user.id, username: &user.username, is_typing };
    let sent = app
        .chat()
        .to(room_key(room_id))
        .except(user_room(&user.id))
        .emit(events::TYPING_UPDATE, &update)
        .await;
    if let Err(error) = sent {
        tracing::debug!(%error, "typing update not sent");
    }
}

/// The `not_member` error.
pub(crate) fn not_member() -> ApiError {
    ApiError::new("not_member", "join the room first")
}
