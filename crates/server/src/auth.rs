//! Connect-time authentication: dev mode (`auth: { username }`) or JWT (`auth: { token }`).

use std::str::FromStr;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{AuthConfig, JwtConfig, JwtKey};

/// An authenticated user. It is also the socket's `data`, so that connection state recovery
/// restores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct User {
    /// Stable id (the username in dev mode, the `sub` claim with JWT).
    pub(crate) id: String,
    /// Display name.
    pub(crate) username: String,
}

impl User {
    /// The Socket.IO room of every connection of this user.
    pub(crate) fn room(&self) -> String {
        user_room(&self.id)
    }
}

/// The Socket.IO room of every connection of `user_id`.
pub(crate) fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Why a connection was refused: sent as the `connect_error` data `{ code, message }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct AuthError {
    /// Machine-readable reason.
    pub(crate) code: &'static str,
    /// Human-readable reason.
    pub(crate) message: String,
}

impl AuthError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        AuthError { code, message: message.into() }
    }

    /// `{ code, message }`.
    pub(crate) fn data(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }
}

/// Checks the CONNECT payload.
#[derive(Clone)]
pub(crate) enum Authenticator {
    /// Any valid username.
    Dev,
    /// A JWT signed with the configured key and algorithm.
    Jwt(Box<(DecodingKey, Validation)>),
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authenticator::Dev => f.write_str("Dev"),
            Authenticator::Jwt(_) => f.write_str("Jwt"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    name: Option<String>,
    username: Option<String>,
}

/// Checks a username: 1–32 characters, no control characters, not blank.
pub(crate) fn valid_name(name: &str) -> bool {
    within(name, 32)
}

/// Checks a user id: 1–128 characters (a JWT `sub` may be a UUID or longer), no control
/// characters, not blank. Dev-mode ids are usernames, so they are 32 at most.
pub(crate) fn valid_user_id(id: &str) -> bool {
    within(id, 128)
}

fn within(text: &str, max: usize) -> bool {
    let count = text.chars().count();
    (1..=max).contains(&count) && !text.chars().any(char::is_control) && !text.trim().is_empty()
}

impl Authenticator {
    /// Builds the authenticator, checking the key and the algorithm now.
    pub(crate) fn new(config: &AuthConfig) -> anyhow::Result<Authenticator> {
        match config {
            AuthConfig::Dev => Ok(Authenticator::Dev),
            AuthConfig::Jwt(jwt) => Ok(Authenticator::Jwt(Box::new(jwt_parts(jwt)?))),
        }
    }

    /// Whether clients send a token.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Authenticator::Dev => "dev",
            Authenticator::Jwt(_) => "jwt",
        }
    }

    /// The user of a CONNECT payload.
    pub(crate) fn authenticate(&self, auth: &Value) -> Result<User, AuthError> {
        match self {
            Authenticator::Dev => {
                // A `token: null` (or `undefined`, dropped by JSON) is no token.
                let has_token = auth.get("token").is_some_and(|t| !t.is_null());
                let Some(name) = auth.get("username") else {
                    if has_token {
                        return Err(AuthError::new(
                            "token_not_accepted",
                            "this server runs in dev mode: sign in with a name, not a token",
                        ));
                    }
                    return Err(AuthError::new("missing_username", "auth.username is required"));
                };
                if has_token {
                    return Err(AuthError::new(
                        "token_not_accepted",
                        "this server runs in dev mode: sign in with a name only, without a token",
                    ));
                }
                match name.as_str() {
                    Some(name) if valid_name(name) => {
                        Ok(User { id: name.to_owned(), username: name.to_owned() })
                    }
                    _ => Err(AuthError::new(
                        "invalid_username",
                        "username must be 1 to 32 characters without control characters",
                    )),
                }
            }
            Authenticator::Jwt(parts) => {
                let (key, validation) = parts.as_ref();
                let Some(token) = auth.get("token").and_then(Value::as_str) else {
                    if auth.get("username").is_some() {
                        return Err(AuthError::new(
                            "missing_token",
                            "this server needs a token (JWT) to sign in, a name is not enough",
                        ));
                    }
                    return Err(AuthError::new("missing_token", "auth.token is required"));
                };
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|e| token_error(e.kind()))?;
                let id = data.claims.sub.filter(|s| valid_user_id(s)).ok_or_else(|| {
                    AuthError::new("invalid_token", "the token needs a valid sub claim")
                })?;
                let username = data
                    .claims
                    .username
                    .or(data.claims.name)
                    .filter(|n| valid_name(n))
                    .unwrap_or_else(|| id.chars().take(32).collect());
                Ok(User { id, username })
            }
        }
    }
}

fn jwt_parts(jwt: &JwtConfig) -> anyhow::Result<(DecodingKey, Validation)> {
    let algorithm = Algorithm::from_str(&jwt.algorithm)
        .map_err(|_| anyhow::anyhow!("unknown JWT algorithm {:?}", jwt.algorithm))?;
    use Algorithm::*;
    let key = match (&jwt.key, algorithm) {
        (JwtKey::Secret(secret), HS256 | HS384 | HS512) => {
            DecodingKey::from_secret(secret.as_bytes())
        }
        (JwtKey::PublicPem(pem), RS256 | RS384 | RS512 | PS256 | PS384 | PS512) => {
            DecodingKey::from_rsa_pem(pem)?
        }
        (JwtKey::PublicPem(pem), ES256 | ES384) => DecodingKey::from_ec_pem(pem)?,
        (JwtKey::PublicPem(pem), EdDSA) => DecodingKey::from_ed_pem(pem)?,
        (JwtKey::Secret(_), _) => anyhow::bail!("a JWT secret needs an HS* algorithm"),
        (JwtKey::PublicPem(_), _) => {
            anyhow::bail!("a JWT public key needs an RS*, PS*, ES* or EdDSA algorithm")
        }
    };
    let mut validation = Validation::new(algorithm);
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    match &jwt.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &jwt.issuer {
        validation.set_issuer(&[iss]);
    }
    Ok((key, validation))
}

fn token_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::new("token_expired", "the token has expired"),
        ErrorKind::ImmatureSignature => {
            AuthError::new("token_not_yet_valid", "the token is not valid yet (nbf)")
        }
        ErrorKind::InvalidAudience => AuthError::new("invalid_audience", "wrong token audience"),
        ErrorKind::InvalidIssuer => AuthError::new("invalid_issuer", "wrong token issuer"),
        ErrorKind::InvalidSignature => {
            AuthError::new("invalid_signature", "the token signature does not verify")
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::new("invalid_algorithm", "the token algorithm is not the configured one")
        }
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::new("invalid_token", format!("the token has no {claim} claim"))
        }
        _ => AuthError::new("invalid_token", "the token is malformed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_mode_validates_usernames() {
        let a = Authenticator::new(&AuthConfig::Dev).unwrap();
        assert_eq!(a.authenticate(&json!({"username": "ann"})).unwrap().id, "ann");
        for bad in [
            json!({}),
            json!({"username": ""}),
            json!({"username": "a\nb"}),
            json!({"username": "x".repeat(33)}),
            json!({"username": 5}),
        ] {
            assert!(a.authenticate(&bad).is_err(), "{bad}");
        }
        assert!(a.authenticate(&json!({"username": "é".repeat(32)})).is_ok());
        // A token is not taken in dev mode, and the error says so (not a name problem).
        for both in [json!({"token": "x.y.z"}), json!({"username": "ann", "token": "x.y.z"})] {
            let e = a.authenticate(&both).unwrap_err();
            assert_eq!(e.code, "token_not_accepted", "{both}");
            assert!(e.message.contains("dev mode"), "{}", e.message);
        }
        // A null token is no token (the SSE bridge passes one when none was given).
        let null_token = json!({"username": "ann", "token": null});
        assert_eq!(a.authenticate(&null_token).unwrap().id, "ann");
    }

    #[test]
    fn jwt_mode_checks_signature_expiry_audience_and_issuer() {
        let config = AuthConfig::Jwt(JwtConfig {
            key: JwtKey::Secret("s3cret".into()),
            algorithm: "HS256".into(),
            audience: Some("chat".into()),
            issuer: Some("me".into()),
        });
        let a = Authenticator::new(&config).unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |claims: Value, secret: &str, alg: Algorithm| {
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(alg),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        let good = json!({"sub": "u1", "name": "Ann", "aud": "chat", "iss": "me", "exp": now + 60});
        let user =
            a.authenticate(&json!({"token": sign(good.clone(), "s3cret", Algorithm::HS256)}));
        assert_eq!(user.unwrap(), User { id: "u1".into(), username: "Ann".into() });
        let code = |claims: Value, secret: &str, alg| {
            a.authenticate(&json!({"token": sign(claims, secret, alg)})).unwrap_err().code
        };
        let mut c = good.clone();
        c["exp"] = json!(now - 10);
        assert_eq!(code(c, "s3cret", Algorithm::HS256), "token_expired");
        let mut c = good.clone();
        c["nbf"] = json!(now + 100);
        assert_eq!(code(c, "s3cret", Algorithm::HS256), "token_not_yet_valid");
        let mut c = good.clone();
        c["aud"] = json!("other");
        assert_eq!(code(c, "s3cret", Algorithm::HS256), "invalid_audience");
        let mut c = good.clone();
        c["iss"] = json!("other");
        assert_eq!(code(c, "s3cret", Algorithm::HS256), "invalid_issuer");
        assert_eq!(code(good.clone(), "wrong", Algorithm::HS256), "invalid_signature");
        assert_eq!(code(good, "s3cret", Algorithm::HS384), "invalid_algorithm");
        assert_eq!(a.authenticate(&json!({})).unwrap_err().code, "missing_token");
        let name_only = a.authenticate(&json!({"username": "ann"})).unwrap_err();
        assert_eq!(name_only.code, "missing_token");
        assert!(name_only.message.contains("needs a token"), "{}", name_only.message);
        assert_eq!(a.authenticate(&json!({"token": "x.y.z"})).unwrap_err().code, "invalid_token");
    }
}
