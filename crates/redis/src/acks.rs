//! Merging a broadcast with ack's counts and answers from this node and the others, the same
//! for both adapters (they differ only in how a remote message reads).

use rmpv::Value as Mp;
use switchboard_adapter::{AckEvent, AckSender};
use tokio::sync::mpsc;

/// Relays `local`'s and `remote`'s counts and answers to `responses`: answers at once, the
/// total count once `servers` nodes (this one included) sent theirs; returns when every answer
/// arrived, or when the remote stream ends. `decode` reads a remote message (`None`: not a
/// count or an answer). The caller bounds it with the broadcast's timeout.
pub(crate) async fn relay(
    servers: usize,
    mut local: mpsc::UnboundedReceiver<AckEvent>,
    mut remote: mpsc::UnboundedReceiver<Mp>,
    responses: AckSender,
    decode: fn(&Mp) -> Option<AckEvent>,
) {
    let (mut counts, mut total, mut answered, mut announced, mut local_open) =
        (0, 0, 0, false, true);
    loop {
        if counts >= servers && !announced {
            let _ = responses.send(AckEvent::Expected(total));
            announced = true;
        }
        if announced && answered >= total {
            return;
        }
        let event = if local_open {
            tokio::select! {
                e = local.recv() => {
                    local_open = e.is_some();
                    e
                }
                m = remote.recv() => match m {
                    Some(m) => decode(&m),
                    None => return,
                },
            }
        } else {
            match remote.recv().await {
                Some(m) => decode(&m),
                None => return,
            }
        };
        match event {
            Some(AckEvent::Expected(n)) => {
                counts += 1;
                total += n;
            }
            Some(AckEvent::Response { socket, payload }) => {
                answered += 1;
                let _ = responses.send(AckEvent::Response { socket, payload });
            }
            _ => {}
        }
    }
}
