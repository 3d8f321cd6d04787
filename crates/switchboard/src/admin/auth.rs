//! Who may connect to the admin namespace: basic auth with a bcrypt hash and session ids,
//! loopback peers only, or everyone.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use rand::RngCore;
use serde_json::Value;

use super::{AdminAuth, AdminError};
use crate::Socket;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The error message the UI matches to show its login form again.
pub(super) const INVALID: &str = "invalid credentials";

/// Checks that `hash` is a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, cost, 53 characters
/// of salt and hash).
pub(super) fn check_hash(hash: &str) -> Result<(), AdminError> {
    hash.parse::<bcrypt::HashParts>().map(drop).map_err(|e| AdminError::InvalidHash(e.to_string()))
}

/// A session id issued at a credentials login, for the connection handler to send.
#[derive(Clone)]
pub(super) struct NewSession(pub(super) String);

/// The session ids issued so far (in memory: lost on restart, not shared by a cluster).
#[derive(Default)]
pub(super) struct Sessions(
    // Written at each credentials login, read at each session login; never held across an
    // await. Owned by the admin's middleware.
    Mutex<HashSet<String>>,
);

impl Sessions {
    fn issue(&self) -> String {
        let mut bytes = [0u8; 8];
        rand::rng().fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        lock(&self.0).insert(id.clone());
        id
    }

    fn knows(&self, id: &str) -> bool {
        lock(&self.0).contains(id)
    }
}

/// Byte equality whose time does not depend on where the texts differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `socket` may connect; a credentials login gets a [`NewSession`] extension.
pub(super) async fn admit(auth: &AdminAuth, sessions: &Sessions, socket: &Socket) -> bool {
    match auth {
        AdminAuth::None => true,
        AdminAuth::LoopbackOnly => {
            socket.handshake().peer_ip().is_some_and(|ip| ip.to_canonical().is_loopback())
        }
        AdminAuth::Basic { username, password_hash } => {
            let given = &socket.handshake().auth;
            if let Some(id) = given.get("sessionId").and_then(Value::as_str) {
                if sessions.knows(id) {
                    return true;
                }
            }
            let (Some(user), Some(password)) = (
                given.get("username").and_then(Value::as_str),
                given.get("password").and_then(Value::as_str),
            ) else {
                return false;
            };
            if !same(user, username) {
                return false;
            }
            let (password, hash) = (password.to_owned(), password_hash.clone());
            // bcrypt takes tens of milliseconds of CPU: off the executor's threads.
            let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if verified {
                socket.insert_extension(NewSession(sessions.issue()));
            }
            verified
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bcrypt_prefix_verifies() {
        // "changeit" hashed with cost 4 under each prefix (one salt; the prefixes differ
        // only in name for this algorithm's output).
        let b = bcrypt::hash_with_salt("changeit", 4, [7u8; 16])
            .map(|h| h.format_for_version(bcrypt::Version::TwoB));
        let b = b.unwrap_or_default();
        for prefix in ["$2a$", "$2b$", "$2x$", "$2y$"] {
            let hash = format!("{prefix}{}", &b[4..]);
            assert!(check_hash(&hash).is_ok(), "{hash}");
            assert!(bcrypt::verify("changeit", &hash).unwrap_or(false), "{hash}");
            assert!(!bcrypt::verify("changeme", &hash).unwrap_or(true), "{hash}");
        }
    }

    #[test]
    fn a_2y_hash_of_another_implementation_verifies() {
        // Made by libxcrypt's crypt("secret", "$2y$04$951P/jPC8iuabTofwYcnlu") (glibc's
        // crypt(3), which PHP's `$2y$` hashes also come from).
        let hash = "$2y$04$951P/jPC8iuabTofwYcnluobpoqnTkkzhg7zjQgO6JAEvGtF/LPyW";
        assert!(check_hash(hash).is_ok());
        assert!(bcrypt::verify("secret", hash).unwrap_or(false));
        assert!(!bcrypt::verify("secret!", hash).unwrap_or(true));
    }

    #[test]
    fn not_a_hash_is_refused() {
        for text in [
            "",
            "secret",
            "$2b$10$short",
            "$3b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
        ] {
            assert!(matches!(check_hash(text), Err(AdminError::InvalidHash(_))), "{text:?}");
        }
    }

    #[test]
    fn usernames_compare_whole() {
        assert!(same("admin", "admin"));
        assert!(!same("admin", "admin2"));
        assert!(!same("admin", "Admin"));
        assert!(!same("", "a"));
    }
}
