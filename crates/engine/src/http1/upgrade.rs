//! Handing a connection over when its request is answered `101`.

use http::Request;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// What a connection hands over when its request is answered `101`.
pub(crate) struct Handoff {
    pub(crate) tcp: TcpStream,
    /// What the client sent after its request head.
    pub(crate) read: Vec<u8>,
    /// The `101` answer, not written yet: the upgraded connection writes it first.
    pub(crate) head: Vec<u8>,
}

/// The request extension through which [`on_upgrade`] takes the connection of a request that
/// asks for an upgrade. A clone is empty: only the request's own copy can take it.
pub(super) struct UpgradeSlot(pub(super) Option<oneshot::Receiver<Handoff>>);

impl Clone for UpgradeSlot {
    fn clone(&self) -> Self {
        UpgradeSlot(None)
    }
}

/// The connection to come once the `101` answer to a request is given.
pub(crate) enum OnUpgrade {
    Ours(oneshot::Receiver<Handoff>),
    Hyper(hyper::upgrade::OnUpgrade),
}

/// An upgraded connection: from [`serve`](crate::serve), or from hyper.
pub(crate) enum Upgraded {
    Ours(Handoff),
    Hyper(hyper::upgrade::Upgraded),
}

/// The connection `req` will be upgraded to, whichever server reads it.
pub(crate) fn on_upgrade<B>(req: &mut Request<B>) -> OnUpgrade {
    match req.extensions_mut().remove::<UpgradeSlot>().and_then(|slot| slot.0) {
        Some(rx) => OnUpgrade::Ours(rx),
        None => OnUpgrade::Hyper(hyper::upgrade::on(req)),
    }
}

impl OnUpgrade {
    /// The upgraded connection; `None` (logged) if the connection ended first.
    pub(crate) async fn upgraded(self) -> Option<Upgraded> {
        match self {
            OnUpgrade::Ours(rx) => match rx.await {
                Ok(handoff) => Some(Upgraded::Ours(handoff)),
                Err(_) => {
                    tracing::debug!("connection ended before its upgrade");
                    None
                }
            },
            OnUpgrade::Hyper(on) => match on.await {
                Ok(io) => Some(Upgraded::Hyper(io)),
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade failed");
                    None
                }
            },
        }
    }
}
