//! Admission of new sessions against floods: a cap on open sessions, a cap per client
//! address, and a handshake rate per client address ([`Limits`]). Nothing is checked or kept
//! when no limit is set (the default, as in Node).
//!
//! A handshake takes a [`Ticket`] before its session exists; the session keeps the place the
//! ticket holds until it ends ([`Admission::release`]); a handshake that fails before its
//! session starts (a WebSocket upgrade that never completes) gives it back when its ticket
//! drops.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::RequestError;

/// Limits on new sessions. Every one is off (`None`) by default, as in Node; a server on a
/// public port should set them.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # type BoxError = Box<dyn std::error::Error>;
/// # async fn get<H: Handler>(engine: &Engine<H>, uri: &str) -> Result<(u16, String), BoxError>
/// # {
/// #     use http_body_util::BodyExt;
/// #     use tower_service::Service;
/// #     let res = engine.service().call(http::Request::get(uri).body(String::new())?).await?;
/// #     let status = res.status().as_u16();
/// #     let body = res.into_body().collect().await?.to_bytes();
/// #     Ok((status, String::from_utf8(body.to_vec())?))
/// # }
/// use switchboard_engine::Limits;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut limits = Limits::default();
/// limits.max_sessions = Some(1);
/// let mut config = EngineConfig::default();
/// config.limits = limits;
/// let engine = Engine::new(Arc::new(Quiet), config);
///
/// let (status, _) = get(&engine, "/engine.io/?EIO=4&transport=polling").await?;
/// assert_eq!(status, 200);
/// // The only place is taken.
/// let (status, _) = get(&engine, "/engine.io/?EIO=4&transport=polling").await?;
/// assert_eq!(status, 503);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most sessions open at once; past it a handshake gets `503 Service Unavailable`.
    pub max_sessions: Option<usize>,
    /// Most sessions open at once from one client address; past it a handshake gets
    /// `429 Too Many Requests`. Behind a proxy every client has the proxy's address: set it
    /// for the proxy's count, or leave it off.
    pub max_sessions_per_ip: Option<usize>,
    /// Handshakes per second from one client address, with bursts of this many; past it a
    /// handshake gets `429 Too Many Requests`.
    pub handshakes_per_ip: Option<HandshakeRate>,
}

/// A handshake rate: `per_second` on average, `burst` at once.
///
/// ```
/// # use std::sync::Arc;
/// # use switchboard_engine::{DisconnectReason, Engine, EngineConfig, Handler, Message};
/// # use switchboard_engine::Socket;
/// # struct Quiet;
/// # impl Handler for Quiet {
/// #     type Session = ();
/// #     fn on_connect(&self, _: Arc<Socket>) {}
/// #     fn on_message(&self, _: &mut (), _: &Arc<Socket>, _: Message) {}
/// #     fn on_disconnect(&self, _: (), _: &Arc<Socket>, _: DisconnectReason) {}
/// # }
/// # use tower_service::Service;
/// use std::net::SocketAddr;
/// use std::num::NonZeroU32;
/// use switchboard_engine::{HandshakeRate, Limits};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut limits = Limits::default();
/// let one = NonZeroU32::MIN;
/// limits.handshakes_per_ip = Some(HandshakeRate { per_second: one, burst: one });
/// let mut config = EngineConfig::default();
/// config.limits = limits;
/// let mut service = Engine::new(Arc::new(Quiet), config).service();
///
/// // The server puts the peer's address in the request's extensions.
/// let from = |peer: &str| -> Result<_, Box<dyn std::error::Error>> {
///     let uri = "/engine.io/?EIO=4&transport=polling";
///     let mut req = http::Request::get(uri).body(String::new())?;
///     req.extensions_mut().insert(peer.parse::<SocketAddr>()?);
///     Ok(req)
/// };
/// assert_eq!(service.call(from("192.0.2.1:50000")?).await?.status(), 200);
/// let again = service.call(from("192.0.2.1:50001")?).await?;
/// assert_eq!(again.status(), 429);
/// assert_eq!(again.headers()["retry-after"], "1");
/// assert_eq!(service.call(from("192.0.2.2:50000")?).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeRate {
    /// Handshakes per second on average.
    pub per_second: NonZeroU32,
    /// Handshakes allowed at once.
    pub burst: NonZeroU32,
}

/// How many sessions are open, in all and per client address; the handshake rate limiter.
pub(crate) struct Admission {
    limits: Limits,
    /// Open sessions and handshakes under way, when `max_sessions` is set.
    open: AtomicUsize,
    /// The same per client address, when `max_sessions_per_ip` is set. Held for one map
    /// operation per handshake and per session end, never across an await.
    per_ip: Mutex<HashMap<IpAddr, usize, foldhash::fast::RandomState>>,
    /// The handshake rate per client address (governor's GCRA), when set.
    rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

/// A place taken by a handshake, given back when dropped unless its session keeps it.
#[must_use]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
    kept: bool,
}

impl Ticket {
    /// The session started: it keeps the place until [`Admission::release`].
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.kept {
            self.admission.release(self.ip);
        }
    }
}

impl Admission {
    pub(crate) fn new(limits: Limits) -> Self {
        let rate = limits
            .handshakes_per_ip
            .map(|r| RateLimiter::keyed(Quota::per_second(r.per_second).allow_burst(r.burst)));
        Admission { limits, open: AtomicUsize::new(0), per_ip: Mutex::default(), rate }
    }

    fn per_ip(&self) -> MutexGuard<'_, HashMap<IpAddr, usize, foldhash::fast::RandomState>> {
        // Every update is one insert or remove: a panic elsewhere cannot leave it half done.
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a handshake from `ip` (unknown: only the global cap applies).
    pub(crate) fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Ticket, RequestError> {
        if let (Some(rate), Some(ip)) = (&self.rate, ip) {
            if rate.check_key(&ip).is_err() {
                return Err(RequestError::TooManyRequests);
            }
            // Forget addresses whose bucket is full again, so the map stays as small as the
            // set of recent clients.
            if rate.len() > RATE_KEYS_BEFORE_PRUNING {
                rate.retain_recent();
            }
        }
        if let Some(max) = self.limits.max_sessions {
            let taken = self.open.fetch_add(1, Ordering::AcqRel);
            if taken >= max {
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(RequestError::ServerFull);
            }
        }
        if let (Some(max), Some(ip)) = (self.limits.max_sessions_per_ip, ip) {
            let mut per_ip = self.per_ip();
            let count = per_ip.entry(ip).or_default();
            if *count >= max {
                drop(per_ip);
                if self.limits.max_sessions.is_some() {
                    self.open.fetch_sub(1, Ordering::AcqRel);
                }
                return Err(RequestError::TooManyRequests);
            }
            *count += 1;
        }
        Ok(Ticket { admission: self.clone(), ip, kept: false })
    }

    /// A session admitted from `ip` ended (or its handshake failed).
    pub(crate) fn release(&self, ip: Option<IpAddr>) {
        if self.limits.max_sessions.is_some() {
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
        if let (Some(_), Some(ip)) = (self.limits.max_sessions_per_ip, ip) {
            let mut per_ip = self.per_ip();
            if let Some(count) = per_ip.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Sessions counted as open from `ip` (for tests and stats).
    #[cfg(test)]
    fn open_from(&self, ip: IpAddr) -> usize {
        self.per_ip().get(&ip).copied().unwrap_or(0)
    }
}

/// Rate-limiter entries kept before the idle ones are dropped.
const RATE_KEYS_BEFORE_PRUNING: usize = 10_000;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn no_limits_admit_everything_and_count_nothing() {
        let admission = Arc::new(Admission::new(Limits::default()));
        let tickets: Vec<Ticket> = (0..1000).map(|_| admission.admit(ip(1)).unwrap()).collect();
        assert_eq!(admission.open.load(Ordering::Acquire), 0);
        assert_eq!(admission.open_from(IpAddr::from([10, 0, 0, 1])), 0);
        drop(tickets);
    }

    #[test]
    fn the_global_cap_refuses_past_it_and_frees_places_as_sessions_end() {
        let limits = Limits { max_sessions: Some(2), ..Limits::default() };
        let admission = Arc::new(Admission::new(limits));
        admission.admit(ip(1)).unwrap().keep();
        let second = admission.admit(ip(2)).unwrap();
        assert_eq!(admission.admit(ip(3)).err(), Some(RequestError::ServerFull));
        // A handshake that failed gives its place back.
        drop(second);
        admission.admit(ip(3)).unwrap().keep();
        assert_eq!(admission.admit(None).err(), Some(RequestError::ServerFull));
        // A session that ended too.
        admission.release(ip(1));
        admission.admit(None).unwrap().keep();
        assert_eq!(admission.open.load(Ordering::Acquire), 2);
    }

    #[test]
    fn the_per_address_cap_counts_each_address_alone() {
        let limits =
            Limits { max_sessions_per_ip: Some(2), max_sessions: Some(10), ..Limits::default() };
        let admission = Arc::new(Admission::new(limits));
        admission.admit(ip(1)).unwrap().keep();
        admission.admit(ip(1)).unwrap().keep();
        assert_eq!(admission.admit(ip(1)).err(), Some(RequestError::TooManyRequests));
        // The refusal did not keep a global place.
        assert_eq!(admission.open.load(Ordering::Acquire), 2);
        admission.admit(ip(2)).unwrap().keep();
        // Unknown addresses are not counted per address.
        admission.admit(None).unwrap().keep();
        admission.release(ip(1));
        assert_eq!(admission.open_from(IpAddr::from([10, 0, 0, 1])), 1);
        admission.admit(ip(1)).unwrap().keep();
        admission.release(ip(2));
        assert_eq!(admission.open_from(IpAddr::from([10, 0, 0, 2])), 0);
        assert!(!admission.per_ip().contains_key(&IpAddr::from([10, 0, 0, 2])));
    }

    #[test]
    fn the_handshake_rate_allows_a_burst_per_address() {
        let rate =
            HandshakeRate { per_second: NonZeroU32::MIN, burst: NonZeroU32::new(3).unwrap() };
        let limits = Limits { handshakes_per_ip: Some(rate), ..Limits::default() };
        let admission = Arc::new(Admission::new(limits));
        for _ in 0..3 {
            admission.admit(ip(1)).unwrap().keep();
        }
        assert_eq!(admission.admit(ip(1)).err(), Some(RequestError::TooManyRequests));
        admission.admit(ip(2)).unwrap().keep();
    }
}
