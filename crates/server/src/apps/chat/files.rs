//! Files shared in rooms: uploaded in chunks (binary attachments), resumable, limited in size
//! and type, then posted to the room as a message that carries the file.
//!
//! - `file:begin` `{ roomId, name, type, size, clientId?, thumbnail? }` (the thumbnail a
//!   binary attachment, made by the page with a canvas) → `{ uploadId, offset: 0, chunkSize }`.
//! - `file:chunk` `{ uploadId, offset, data }` (`data` a binary attachment, at most
//!   [`MAX_CHUNK`] bytes, at the offset the server has) → `{ offset }`.
//! - `file:status` `{ uploadId }` → `{ offset, size }`: where to resume after a reconnect.
//! - `file:end` `{ uploadId }` → the message's ack (`{ id, seq, ts, roomId, file }`) and
//!   `message:new` to the room, with `file: { id, name, type, size, thumbnail }`.
//!
//! The bytes are written to `<data dir>/files/<room>/<upload>.part` as they come, and once
//! complete either renamed to `<file id>` there, or (small files, and every file with
//! PostgreSQL, which all nodes of a cluster read) stored in the database. An upload's record
//! is kept in the app store, so a restarted server resumes it from the part on its disk. The
//! server generates no thumbnails (no image library): it checks the page's thumbnail and an
//! image's first bytes against the image types it knows.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::{Bin, Data};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::uploads::{
    MAX_OPEN_UPLOADS, UPLOADS, Upload, UploadRecord, create_part, io_error, lock,
};
use super::{Chat, events, not_member, room_key};
use crate::apps::{ApiError, Outcome, check_client_id, check_room_id, fields, parse};
use crate::auth::User;
use crate::store::{FileInfo, Message, StoredFile, new_id, now_ms};

/// The chunk size the server suggests.
pub(crate) const CHUNK_SIZE: usize = 256 * 1024;
/// The largest chunk taken (over long-polling a chunk travels as base64 in one payload, which
/// must stay under the engine's 1 MB `maxHttpBufferSize`).
pub(crate) const MAX_CHUNK: usize = 512 * 1024;
/// The largest thumbnail taken.
pub(crate) const MAX_THUMBNAIL: usize = 64 * 1024;
/// Files up to this size are kept in the database (SQLite) rather than in a file of their own.
pub(crate) const INLINE_MAX: u64 = 64 * 1024;
/// The image type of `bytes` by their first bytes, among the types shown inline.
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

/// The binary attachment a `{ "_placeholder": true, "num": N }` value stands for.
fn attachment(value: Option<&Value>, bin: &[Bytes]) -> Option<Bytes> {
    let value = value?;
    if value.get("_placeholder").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let num = usize::try_from(value.get("num")?.as_u64()?).ok()?;
    bin.get(num).cloned()
}

/// A file name as shown: the last path component, 1–255 characters, no control characters.
fn clean_name(name: &str) -> Result<String, ApiError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let count = base.chars().count();
    if (1..=255).contains(&count) && !base.chars().any(char::is_control) {
        Ok(base.to_owned())
    } else {
        Err(ApiError::new(
            "invalid_name",
            "the file name must be 1 to 255 characters without control characters",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BeginRequest {
    room_id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    size: u64,
    client_id: Option<String>,
    thumbnail: Option<Value>,
}

/// `file:begin`.
pub(super) async fn begin(
    app: Chat,
    user: User,
    Data(data): Data<Value>,
    Bin(bin): Bin,
) -> Outcome {
    let uploads = &app.uploads;
    let req: BeginRequest = parse(data)?;
    check_room_id(&req.room_id)?;
    check_client_id(req.client_id.as_deref())?;
    let name = clean_name(&req.name)?;
    let kind = req.kind.trim().to_ascii_lowercase();
    if req.size == 0 {
        return Err(ApiError::new("empty_file", "the file is empty"));
    }
    if req.size > uploads.max_size {
        return Err(ApiError::new(
            "file_too_large",
            format!("the file is larger than the limit of {} bytes", uploads.max_size),
        )
        .with("maxBytes", json!(uploads.max_size)));
    }
    if !uploads.allowed(&kind) {
        return Err(ApiError::new(
            "file_type_not_allowed",
            format!("files of type {kind:?} cannot be shared here"),
        )
        .with("allowed", json!(uploads.types)));
    }
    let thumbnail = match req.thumbnail.as_ref() {
        None | Some(Value::Null) => None,
        Some(value) => {
            let bytes = attachment(Some(value), &bin).ok_or_else(|| {
                ApiError::new("invalid_thumbnail", "the thumbnail must be a binary attachment")
            })?;
            if bytes.len() > MAX_THUMBNAIL {
                return Err(ApiError::new(
                    "invalid_thumbnail",
                    format!("the thumbnail is larger than {MAX_THUMBNAIL} bytes"),
                ));
            }
            let Some(kind) = sniff_image(&bytes).filter(|k| *k != "image/gif") else {
                return Err(ApiError::new(
                    "invalid_thumbnail",
                    "the thumbnail must be a PNG, JPEG or WebP image",
                ));
            };
            Some((kind, bytes))
        }
    };
    let (room, id) = (req.room_id.clone(), user.id.clone());
    if !app.cx.store.call(move |s| s.is_member(&room, &id)).await? {
        return Err(not_member());
    }
    app.cx.limiter.check(&user.id)?;
    // A retried `file:begin` (same clientId) continues the upload it started.
    if let Some(client_id) = &req.client_id {
        let existing: Vec<_> = lock(&uploads.open).values().cloned().collect();
        for upload in existing {
            let upload = upload.lock().await;
            if upload.record.user_id == user.id
                && upload.record.client_id.as_deref() == Some(client_id)
            {
                return Ok(fields(json!({
                    "uploadId": upload.id, "offset": upload.received, "chunkSize": CHUNK_SIZE,
                })));
            }
        }
    }
    if uploads.sweep(&user.id).await >= MAX_OPEN_UPLOADS {
        return Err(ApiError::new(
            "too_many_uploads",
            format!("finish or let expire one of your {MAX_OPEN_UPLOADS} unfinished uploads"),
        ));
    }
    let upload_id = new_id();
    let record = UploadRecord {
        user_id: user.id.clone(),
        username: user.username.clone(),
        room_id: req.room_id.clone(),
        name,
        kind,
        size: req.size,
        client_id: req.client_id,
        thumbnail_type: thumbnail.as_ref().map(|(k, _)| (*k).to_owned()),
        started_ms: Some(now_ms()),
    };
    create_part(&uploads.part_path(&record.room_id, &upload_id)).await?;
    if let Some((_, bytes)) = &thumbnail {
        tokio::fs::write(uploads.thumb_path(&record.room_id, &upload_id), bytes)
            .await
            .map_err(io_error)?;
    }
    uploads.store.put(UPLOADS, &upload_id, &record).await?;
    let upload = Upload { id: upload_id.clone(), record, received: 0, touched: Instant::now() };
    lock(&uploads.open).insert(upload_id.clone(), Arc::new(tokio::sync::Mutex::new(upload)));
    Ok(fields(json!({ "uploadId": upload_id, "offset": 0, "chunkSize": CHUNK_SIZE })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChunkRequest {
    upload_id: String,
    offset: u64,
    data: Option<Value>,
}

/// `file:chunk`.
pub(super) async fn chunk(
    app: Chat,
    user: User,
    Data(data): Data<Value>,
    Bin(bin): Bin,
) -> Outcome {
    let uploads = &app.uploads;
    let req: ChunkRequest = parse(data)?;
    let bytes = attachment(req.data.as_ref(), &bin)
        .ok_or_else(|| ApiError::new("invalid_payload", "data must be a binary attachment"))?;
    if bytes.is_empty() || bytes.len() > MAX_CHUNK {
        return Err(ApiError::new("invalid_chunk", format!("a chunk has 1 to {MAX_CHUNK} bytes")));
    }
    let upload = uploads.find(&req.upload_id, &user).await?;
    let mut upload = upload.lock().await;
    if req.offset != upload.received {
        return Err(ApiError::new(
            "bad_offset",
            format!("the server has {} bytes of this upload: send from there", upload.received),
        )
        .with("offset", json!(upload.received)));
    }
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if upload.received.saturating_add(len) > upload.record.size {
        return Err(ApiError::new(
            "beyond_size",
            "the chunk goes past the size given at the start",
        )
        .with("offset", json!(upload.received)));
    }
    let path = uploads.part_path(&upload.record.room_id, &upload.id);
    let mut file =
        tokio::fs::OpenOptions::new().append(true).open(&path).await.map_err(io_error)?;
    file.write_all(&bytes).await.map_err(io_error)?;
    file.flush().await.map_err(io_error)?;
    upload.received += len;
    upload.touched = Instant::now();
    Ok(fields(json!({ "offset": upload.received })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadRequest {
    upload_id: String,
}

/// `file:status`.
pub(super) async fn status(app: Chat, user: User, Data(data): Data<Value>) -> Outcome {
    let req: UploadRequest = parse(data)?;
    let upload = app.uploads.find(&req.upload_id, &user).await?;
    let upload = upload.lock().await;
    Ok(fields(
        json!({ "uploadId": upload.id, "offset": upload.received, "size": upload.record.size }),
    ))
}

/// What finishing an upload did.
enum Finished {
    New(Box<Message>, Value),
    Duplicate(Value),
    NotMember,
}

/// The client id under which a finished upload's ack is kept (a retried `file:end` gets it).
fn end_key(upload_id: &str) -> String {
    format!("file:{upload_id}")
}

/// `file:end`.
pub(super) async fn end(app: Chat, user: User, Data(data): Data<Value>) -> Outcome {
    let uploads = &app.uploads;
    let req: UploadRequest = parse(data)?;
    let upload = match uploads.find(&req.upload_id, &user).await {
        Ok(upload) => upload,
        Err(error) => {
            // Finished already: the same answer again.
            let (id, key) = (user.id.clone(), end_key(&req.upload_id));
            if let Some(ack) = app.cx.store.call(move |s| s.client_ack(&id, &key)).await? {
                let mut ack = fields(ack);
                ack.insert("duplicate", Value::Bool(true));
                return Ok(ack);
            }
            return Err(error);
        }
    };
    let upload = upload.lock().await;
    let record = upload.record.clone();
    if upload.received != record.size {
        return Err(ApiError::new(
            "incomplete",
            format!("{} of {} bytes arrived: send the rest first", upload.received, record.size),
        )
        .with("offset", json!(upload.received)));
    }
    let part = uploads.part_path(&record.room_id, &upload.id);
    let mut head = [0u8; 16];
    let head_len = {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(&part).await.map_err(io_error)?;
        file.read(&mut head).await.map_err(io_error)?
    };
    if record.kind.starts_with("image/") {
        let sniffed = sniff_image(head.get(..head_len).unwrap_or(&[]));
        if sniffed != Some(record.kind.as_str()) {
            drop(upload);
            uploads.drop_upload(&req.upload_id, &record).await;
            return Err(ApiError::new(
                "type_mismatch",
                format!("the file is not a {} image", record.kind),
            ));
        }
    }
    let thumbnail = match &record.thumbnail_type {
        Some(kind) => {
            let bytes = tokio::fs::read(uploads.thumb_path(&record.room_id, &upload.id))
                .await
                .map_err(io_error)?;
            Some((kind.clone(), bytes))
        }
        None => None,
    };
    let file_id = new_id();
    let in_database = uploads.all_in_database || record.size <= INLINE_MAX;
    let data = match in_database {
        true => Some(tokio::fs::read(&part).await.map_err(io_error)?),
        false => {
            let target = uploads.file_path(&record.room_id, &file_id);
            tokio::fs::rename(&part, &target).await.map_err(io_error)?;
            None
        }
    };
    let info = FileInfo {
        id: file_id.clone(),
        name: record.name.clone(),
        kind: record.kind.clone(),
        size: record.size,
        thumbnail: thumbnail.is_some(),
    };
    let stored = StoredFile {
        info: info.clone(),
        room_id: record.room_id.clone(),
        user_id: user.id.clone(),
        in_database,
        created_at: now_ms(),
    };
    let message = Message {
        id: new_id(),
        room_id: record.room_id.clone(),
        seq: 0,
        user_id: user.id.clone(),
        username: user.username.clone(),
        text: record.name.clone(),
        ts: now_ms(),
        client_id: record.client_id.clone(),
        status: None,
        file: Some(info),
    };
    let key = end_key(&upload.id);
    let finished = app
        .cx
        .store
        .call(move |s| {
            if !s.is_member(&message.room_id, &message.user_id)? {
                return Ok(Finished::NotMember);
            }
            if let Some(ack) = s.client_ack(&message.user_id, &key)? {
                return Ok(Finished::Duplicate(ack));
            }
            let thumb = thumbnail.as_ref().map(|(k, b)| (k.as_str(), b.as_slice()));
            s.insert_file(&stored, data.as_deref(), thumb)?;
            let m = s.insert_message(message)?;
            let ack = json!({
                "id": m.id, "seq": m.seq, "ts": m.ts, "roomId": m.room_id, "file": m.file,
            });
            s.save_client_ack(&m.user_id, &key, &ack)?;
            if let Some(cid) = &m.client_id {
                s.save_client_ack(&m.user_id, cid, &ack)?;
            }
            Ok(Finished::New(Box::new(m), ack))
        })
        .await;
    let finished = match finished {
        Ok(finished) => finished,
        Err(error) => {
            if !in_database {
                // Not recorded: the bytes go back to being the part, so the upload can end
                // again once the database is back.
                let target = uploads.file_path(&record.room_id, &file_id);
                let _ = tokio::fs::rename(&target, &part).await;
            }
            return Err(error.into());
        }
    };
    drop(upload);
    match finished {
        Finished::New(m, ack) => {
            uploads.drop_upload(&req.upload_id, &record).await;
            let sent = app.chat().to(room_key(&m.room_id)).emit(events::MESSAGE_NEW, &m).await;
            if let Err(error) = sent {
                tracing::warn!(%error, "file message not broadcast");
            }
            Ok(fields(ack))
        }
        Finished::Duplicate(ack) => {
            uploads.drop_upload(&req.upload_id, &record).await;
            let mut ack = fields(ack);
            ack.insert("duplicate", Value::Bool(true));
            Ok(ack)
        }
        Finished::NotMember => {
            uploads.drop_upload(&req.upload_id, &record).await;
            if !in_database {
                let _ = tokio::fs::remove_file(uploads.file_path(&record.room_id, &file_id)).await;
            }
            Err(not_member())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_known_by_their_first_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"<svg xmlns="), None);
        assert_eq!(sniff_image(b""), None);
        assert_eq!(sniff_image(b"RIFF"), None);
    }

    #[test]
    fn names_are_safe() {
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_name("C:\\Users\\x\\photo.png").unwrap(), "photo.png");
        assert!(clean_name("a\nb").is_err());
        assert!(clean_name("dir/").is_err());
    }

    #[test]
    fn placeholders_resolve_to_their_attachment() {
        let bin = vec![Bytes::from_static(b"zero"), Bytes::from_static(b"one")];
        let one = json!({ "_placeholder": true, "num": 1 });
        assert_eq!(attachment(Some(&one), &bin), Some(Bytes::from_static(b"one")));
        assert_eq!(attachment(Some(&json!({ "_placeholder": true, "num": 2 })), &bin), None);
        assert_eq!(attachment(Some(&json!("text")), &bin), None);
        assert_eq!(attachment(None, &bin), None);
    }
}
