//! The collaborative editor: namespace `/editor`, documents as rooms, edited with Yjs.
//!
//! The server holds each open document as a `yrs` document and speaks the Yjs sync protocol
//! with the page's `yjs`: y-protocols messages (sync step 1 and 2, updates, awareness) as
//! binary attachments of `editor:sync` and `editor:awareness`. After `editor:join` the server
//! sends its state vector (sync step 1) and the known awareness states; the client answers
//! with what the server lacks (its offline edits) and sends its own state vector, which the
//! server answers with what the client lacks. Every update is logged in the store before it
//! is applied and broadcast; the log is compacted into one snapshot update past
//! [`docs::COMPACT_AFTER`] entries. Awareness (cursors, selections, names, colours) is
//! relayed volatile; a socket's awareness clients are removed when it leaves.

mod docs;
mod vendor;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Bin, Data, HandlerError, Payload, Socket};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

use self::docs::{Docs, MAX_AWARENESS, MAX_DOCUMENT, MAX_MESSAGE};
use crate::apps::{ApiError, App, AppContext, Asset, Outcome, Shared, fields, page_routes, parse};

/// The editor app (see the module).
pub(crate) struct EditorApp;

const NAMESPACE: &str = "/editor";
const PAGE: &str = include_str!("page/index.html");
const ASSETS: &[Asset] = &[
    Asset { file: "editor.js", body: include_str!("page/editor.js") },
    Asset { file: "editor.css", body: include_str!("page/editor.css") },
];

/// Event names of `/editor`.
pub(crate) mod events {
    /// Client → server: `{ docId }`, acked `{ ok, docId, bytes, limits }`.
    pub(crate) const JOIN: &str = "editor:join";
    /// Client → server: `{ docId }`.
    pub(crate) const LEAVE: &str = "editor:leave";
    /// Both ways: `{ docId, data }`, `data` a y-protocols sync message (binary).
    pub(crate) const SYNC: &str = "editor:sync";
    /// Both ways: `{ docId, data }`, `data` a y-protocols awareness message (binary).
    pub(crate) const AWARENESS: &str = "editor:awareness";
}

impl App for EditorApp {
    fn name(&self) -> &'static str {
        "editor"
    }

    fn title(&self) -> &'static str {
        "Editor"
    }

    fn summary(&self) -> &'static str {
        "Collaborative documents with Yjs: live cursors, offline edits that merge on reconnect."
    }

    fn install(&self, cx: &AppContext) -> anyhow::Result<()> {
        if vendor::find().is_none() {
            tracing::warn!(
                "the editor page needs the yjs package: run `npm install` in web/ (the editor's \
                 events work without it)"
            );
        }
        cx.provide(Docs::new(cx.store_of("editor")));
        let ns = cx.of(NAMESPACE);
        crate::apps::authenticate(&ns);
        ns.on_connection(|socket: Socket| async move {
            socket.on(events::JOIN, join)?;
            socket.on(events::LEAVE, leave)?;
            socket.on(events::SYNC, sync)?;
            socket.on(events::AWARENESS, awareness)?;
            socket.on_disconnect(|socket: Socket, Shared(docs): Shared<Docs>| async move {
                let sid = socket.id().as_str().to_owned();
                for id in docs.take_joined(&sid) {
                    if let Some(removal) = docs.leave(&sid, &id).await {
                        broadcast(&socket, &id, events::AWARENESS, removal, true).await;
                    }
                }
            });
            Ok::<_, HandlerError>(())
        });
        Ok(())
    }

    fn routes(&self, _cx: &AppContext) -> axum::Router {
        page_routes(self.name(), PAGE, ASSETS).merge(vendor::routes())
    }
}

/// The room of a document.
fn room(doc_id: &str) -> String {
    format!("doc:{doc_id}")
}

/// Checks a document id: 1–64 letters, digits, `-`, `_` or `.`.
fn check_doc_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "invalid_document",
            "docId must be 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// `{ docId, data }` with `data` a placeholder for a binary attachment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Framed {
    doc_id: String,
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocRequest {
    doc_id: String,
}

/// The attachment `value` stands for.
fn attachment(value: Option<&Value>, bin: &[Bytes]) -> Option<Bytes> {
    let value = value?;
    if value.get("_placeholder").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let num = usize::try_from(value.get("num")?.as_u64()?).ok()?;
    bin.get(num).cloned()
}

/// Reads a framed message: the document (joined by this socket) and its bytes.
fn framed(
    docs: &Docs,
    socket: &Socket,
    data: Value,
    bin: &[Bytes],
    max: usize,
) -> Result<(String, Bytes), ApiError> {
    let req: Framed = parse(data)?;
    check_doc_id(&req.doc_id)?;
    let bytes = attachment(req.data.as_ref(), bin)
        .ok_or_else(|| ApiError::new("invalid_payload", "data must be a binary attachment"))?;
    if bytes.len() > max {
        return Err(ApiError::new(
            "payload_too_large",
            format!("a message has at most {max} bytes (this one has {})", bytes.len()),
        )
        .with("maxBytes", json!(max)));
    }
    if !docs.has_joined(socket.id().as_str(), &req.doc_id) {
        return Err(ApiError::new("not_joined", "join the document first (editor:join)"));
    }
    Ok((req.doc_id, bytes))
}

/// Sends `{ docId, data }` to `socket`.
fn send(socket: &Socket, doc_id: &str, event: &str, bytes: Vec<u8>) {
    let mut payload = Payload::new();
    let data = payload.attach(bytes);
    payload.push(json!({ "docId": doc_id, "data": data }));
    if let Err(error) = socket.emit_payload(event, payload) {
        tracing::debug!(%error, event, "editor message not sent");
    }
}

/// Sends `{ docId, data }` to the document's other members.
async fn broadcast(socket: &Socket, doc_id: &str, event: &str, bytes: Vec<u8>, volatile: bool) {
    let mut payload = Payload::new();
    let data = payload.attach(bytes);
    payload.push(json!({ "docId": doc_id, "data": data }));
    let mut to = socket.to(room(doc_id));
    if volatile {
        to = to.volatile();
    }
    if let Err(error) = to.emit_payload(event, payload).await {
        tracing::debug!(%error, event, "editor broadcast not sent");
    }
}

/// `editor:join`: joins the document's room; the server's sync step 1 and the awareness
/// states follow as events.
async fn join(socket: Socket, Shared(docs): Shared<Docs>, Data(data): Data<Value>) -> Outcome {
    let req: DocRequest = parse(data)?;
    check_doc_id(&req.doc_id)?;
    let sid = socket.id().as_str().to_owned();
    if !docs.note_join(&sid, &req.doc_id) {
        return Err(ApiError::new(
            "too_many_documents",
            format!("a connection has at most {} documents open", docs::MAX_OPEN_PER_SOCKET),
        ));
    }
    let mut guard = match docs.open(&req.doc_id).await {
        Ok(guard) => guard,
        Err(error) => {
            docs.forget(&sid, &req.doc_id);
            return Err(error);
        }
    };
    let doc = guard.get()?;
    // Another node may have stored updates since this one loaded the document.
    if let Err(error) = doc.catch_up(docs.store()).await {
        tracing::warn!(code = error.code, "editor: the other nodes' updates not read");
    }
    doc.members.insert(sid.clone());
    socket.join(room(&req.doc_id));
    if !socket.connected() {
        // Gone while the document loaded: its disconnect handler has already run.
        drop(guard);
        docs.forget(&sid, &req.doc_id);
        docs.leave(&sid, &req.doc_id).await;
        return Err(ApiError::new("disconnected", "the connection closed during the join"));
    }
    let step1 = Message::Sync(SyncMessage::SyncStep1(doc.state_vector())).encode_v1();
    send(&socket, &req.doc_id, events::SYNC, step1);
    if let Some(states) = doc.awareness_states() {
        send(&socket, &req.doc_id, events::AWARENESS, states);
    }
    Ok(fields(json!({
        "docId": req.doc_id,
        "bytes": doc.size(),
        "limits": { "maxMessageBytes": MAX_MESSAGE, "maxDocumentBytes": MAX_DOCUMENT },
    })))
}

/// `editor:leave`.
async fn leave(socket: Socket, Shared(docs): Shared<Docs>, Data(data): Data<Value>) -> Outcome {
    let req: DocRequest = parse(data)?;
    check_doc_id(&req.doc_id)?;
    let sid = socket.id().as_str().to_owned();
    if !docs.has_joined(&sid, &req.doc_id) {
        return Err(ApiError::new("not_joined", "this connection has not joined the document"));
    }
    docs.forget(&sid, &req.doc_id);
    socket.leave(room(&req.doc_id));
    if let Some(removal) = docs.leave(&sid, &req.doc_id).await {
        broadcast(&socket, &req.doc_id, events::AWARENESS, removal, true).await;
    }
    Ok(fields(json!({ "docId": req.doc_id })))
}

/// `editor:sync`: a sync step 1 is answered with step 2 (an event); a step 2 or an update is
/// stored, applied and passed on to the other members.
async fn sync(
    socket: Socket,
    Shared(docs): Shared<Docs>,
    Data(data): Data<Value>,
    Bin(bin): Bin,
) -> Outcome {
    let (doc_id, bytes) = framed(&docs, &socket, data, &bin, MAX_MESSAGE)?;
    let message = Message::decode_v1(&bytes)
        .map_err(|e| ApiError::new("invalid_message", format!("not a Yjs sync message: {e}")))?;
    let Message::Sync(message) = message else {
        return Err(ApiError::new("invalid_message", "editor:sync takes sync messages only"));
    };
    let mut guard = docs.open(&doc_id).await?;
    let doc = guard.get()?;
    match message {
        SyncMessage::SyncStep1(sv) => {
            // Everything stored, also by other nodes, goes into the answer.
            if let Err(error) = doc.catch_up(docs.store()).await {
                tracing::warn!(code = error.code, "editor: the other nodes' updates not read");
            }
            let step2 = Message::Sync(SyncMessage::SyncStep2(doc.diff(&sv))).encode_v1();
            send(&socket, &doc_id, events::SYNC, step2);
            Ok(fields(json!({ "bytes": doc.size() })))
        }
        SyncMessage::SyncStep2(update) | SyncMessage::Update(update) => {
            if is_empty_update(&update) {
                return Ok(fields(json!({ "bytes": doc.size() })));
            }
            let applied = doc.apply(&update, docs.store()).await?;
            let relay = Message::Sync(SyncMessage::Update(update)).encode_v1();
            // Under the document's lock: the members get the updates in the store's order.
            broadcast(&socket, &doc_id, events::SYNC, relay, false).await;
            Ok(fields(json!({ "bytes": applied.size })))
        }
    }
}

/// An update that changes nothing (no structs, no deletions).
fn is_empty_update(update: &[u8]) -> bool {
    update == [0, 0]
}

/// `editor:awareness`: recorded (for later joiners) and relayed, volatile.
async fn awareness(
    socket: Socket,
    Shared(docs): Shared<Docs>,
    Data(data): Data<Value>,
    Bin(bin): Bin,
) -> Outcome {
    let (doc_id, bytes) = framed(&docs, &socket, data, &bin, MAX_AWARENESS)?;
    let message = Message::decode_v1(&bytes).map_err(|e| {
        ApiError::new("invalid_message", format!("not a Yjs awareness message: {e}"))
    })?;
    let Message::Awareness(update) = message else {
        return Err(ApiError::new("invalid_message", "editor:awareness takes awareness only"));
    };
    {
        let mut guard = docs.open(&doc_id).await?;
        guard.get()?.note_awareness(socket.id().as_str(), &update);
    }
    broadcast(&socket, &doc_id, events::AWARENESS, bytes.to_vec(), true).await;
    Ok(fields(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids() {
        assert!(check_doc_id("notes-2026_12.v1").is_ok());
        assert!(check_doc_id("").is_err());
        assert!(check_doc_id("a b").is_err());
        assert!(check_doc_id(&"a".repeat(65)).is_err());
        assert!(is_empty_update(&[0, 0]));
    }
}
