//! `GET /files/{id}` and `GET /files/{id}/thumbnail`: a shared file's bytes, for the members
//! of its room, with the same auth as the connections: `Authorization: Bearer TOKEN` (JWT) or
//! `X-Switchboard-User: NAME` (dev mode, percent-encoded UTF-8).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Chat;
use super::files::sniff_image;
use crate::apps::ApiError;
use crate::auth::User;

/// The header of a dev-mode user name.
pub(crate) const USER_HEADER: &str = "x-switchboard-user";

fn error(status: StatusCode, error: ApiError) -> Response {
    (status, axum::Json(json!({ "ok": false, "error": error.to_json() }))).into_response()
}

/// Decodes `%XX` escapes (UTF-8); `None` if they do not make UTF-8 text.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The user of a request, as the connections authenticate.
fn user_of(app: &Chat, headers: &HeaderMap) -> Result<User, Box<Response>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let name = headers.get(USER_HEADER).and_then(|v| v.to_str().ok()).map(percent_decode);
    let auth = match (bearer, name) {
        (Some(token), _) => json!({ "token": token }),
        (None, Some(Some(name))) => json!({ "username": name }),
        (None, Some(None)) => Value::Object(Default::default()),
        (None, None) => {
            return Err(Box::new(error(
                StatusCode::UNAUTHORIZED,
                ApiError::new(
                    "unauthorized",
                    "send Authorization: Bearer TOKEN (or X-Switchboard-User in dev mode)",
                ),
            )));
        }
    };
    app.cx.auth.authenticate(&auth).map_err(|e| {
        Box::new(error(StatusCode::UNAUTHORIZED, ApiError::new("unauthorized", e.message.clone())))
    })
}

/// `Content-Disposition` for `name`: an ASCII fallback and the UTF-8 name.
fn disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

fn respond(kind: &str, disposition: Option<String>, bytes: Vec<u8>) -> Response {
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    let kind =
        HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, kind);
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Finds the file and checks the user is a member of its room; a file of another room is
/// answered as missing, so ids do not tell what exists.
async fn readable(
    app: &Chat,
    headers: &HeaderMap,
    id: String,
) -> Result<crate::store::StoredFile, Box<Response>> {
    let user = user_of(app, headers)?;
    let found = app
        .cx
        .store
        .call(move |s| {
            let Some(file) = s.file(&id)? else { return Ok(None) };
            Ok(s.is_member(&file.room_id, &user.id)?.then_some(file))
        })
        .await
        .map_err(|e| Box::new(error(StatusCode::SERVICE_UNAVAILABLE, ApiError::from(e))))?;
    found.ok_or_else(|| {
        Box::new(error(StatusCode::NOT_FOUND, ApiError::new("not_found", "no such file")))
    })
}

/// `GET /files/{id}`.
pub(super) async fn download(
    State(app): State<Chat>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file = match readable(&app, &headers, id).await {
        Ok(file) => file,
        Err(response) => return *response,
    };
    let bytes = if file.in_database {
        let id = file.info.id.clone();
        match app.cx.store.call(move |s| s.file_data(&id)).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                return error(StatusCode::NOT_FOUND, ApiError::new("not_found", "no such file"));
            }
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ApiError::from(e)),
        }
    } else {
        match tokio::fs::read(app.uploads.file_path(&file.room_id, &file.info.id)).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, id = %file.info.id, "file bytes missing on this node");
                return error(
                    StatusCode::NOT_FOUND,
                    ApiError::new("not_found", "the file's bytes are not on this server"),
                );
            }
        }
    };
    // Images (checked at upload) are shown inline; anything else is a download.
    let inline = sniff_image(&bytes) == Some(file.info.kind.as_str());
    let kind = if inline { "inline" } else { "attachment" };
    respond(&file.info.kind, Some(disposition(kind, &file.info.name)), bytes)
}

/// `GET /files/{id}/thumbnail`.
pub(super) async fn thumbnail(
    State(app): State<Chat>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file = match readable(&app, &headers, id).await {
        Ok(file) => file,
        Err(response) => return *response,
    };
    let id = file.info.id.clone();
    match app.cx.store.call(move |s| s.file_thumbnail(&id)).await {
        Ok(Some((kind, bytes))) => respond(&kind, None, bytes),
        Ok(None) => error(StatusCode::NOT_FOUND, ApiError::new("not_found", "no thumbnail")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, ApiError::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_and_dispositions_are_safe() {
        assert_eq!(percent_decode("Zo%C3%AB%20%F0%9F%99%82").as_deref(), Some("Zoë 🙂"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%C3"), None);
        assert_eq!(
            disposition("attachment", "ré\"sumé.pdf"),
            "attachment; filename=\"r__sum_.pdf\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.pdf"
        );
    }
}
