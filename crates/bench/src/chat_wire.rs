//! The chat load's packets: what the `switchboard` binary's `/chat` namespace sends the
//! generator, recognised without a JSON parser, and the few the generator sends.

use std::io::Write as _;

/// The room every client joins.
pub const ROOM: &str = "bench";

/// What a text packet from the chat server means to the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatIncoming {
    /// Engine.IO `open`.
    Open,
    /// Socket.IO `CONNECT` answer for `/chat`.
    Connected,
    /// Socket.IO `CONNECT_ERROR` for `/chat`.
    ConnectError,
    /// Engine.IO `ping`.
    Ping,
    /// Engine.IO `close`.
    Close,
    /// The ack of request `id`; `ok` when the answer is `{ ok: true, ... }`.
    Ack {
        /// The ack id.
        id: u64,
        /// Whether the request succeeded.
        ok: bool,
    },
    /// A `message:new` event.
    MessageNew,
    /// Anything else (`session`, `presence:update`, ...).
    Other,
}

const NS: &[u8] = b"/chat,";

/// Classifies one Engine.IO text packet from the chat server.
#[must_use]
pub fn classify(p: &[u8]) -> ChatIncoming {
    match p {
        [b'4', b'0', rest @ ..] if rest.starts_with(NS) => ChatIncoming::Connected,
        [b'4', b'4', rest @ ..] if rest.starts_with(NS) => ChatIncoming::ConnectError,
        [b'4', b'2', rest @ ..] => match rest.strip_prefix(NS) {
            Some(args) if args.starts_with(b"[\"message:new\",") => ChatIncoming::MessageNew,
            _ => ChatIncoming::Other,
        },
        [b'4', b'3', rest @ ..] => {
            let Some(rest) = rest.strip_prefix(NS) else { return ChatIncoming::Other };
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let id = std::str::from_utf8(rest.get(..digits).unwrap_or_default())
                .ok()
                .and_then(|d| d.parse().ok());
            match (id, rest.get(digits..)) {
                (Some(id), Some(answer)) => ChatIncoming::Ack { id, ok: answer_ok(answer) },
                _ => ChatIncoming::Other,
            }
        }
        [b'0', ..] => ChatIncoming::Open,
        [b'2'] => ChatIncoming::Ping,
        [b'1'] => ChatIncoming::Close,
        _ => ChatIncoming::Other,
    }
}

/// Whether an ack's argument list (`[{...}]`) is a success answer: `"ok":true` at the top
/// level of its first argument (the answers this generator asks for carry no user text).
fn answer_ok(args: &[u8]) -> bool {
    args.windows(9).any(|w| w == b"\"ok\":true")
}

/// `40/chat,{"username":NAME}`: connects to `/chat` as `name` (letters, digits, `-` only).
pub fn write_connect(out: &mut Vec<u8>, name: &str) {
    let _ = write!(out, "40/chat,{{\"username\":\"{name}\"}}");
}

/// `42/chat,ID["room:join",{"roomId":ROOM}]`.
pub fn write_join(out: &mut Vec<u8>, id: u64, room: &str) {
    let _ = write!(out, "42/chat,{id}[\"room:join\",{{\"roomId\":\"{room}\"}}]");
}

/// `42/chat,ID["message:send",{"roomId":ROOM,"text":"m ID"}]`.
pub fn write_send(out: &mut Vec<u8>, id: u64, room: &str) {
    let _ =
        write!(out, "42/chat,{id}[\"message:send\",{{\"roomId\":\"{room}\",\"text\":\"m {id}\"}}]");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_chat_packets() {
        assert_eq!(classify(br#"0{"sid":"a","upgrades":[]}"#), ChatIncoming::Open);
        assert_eq!(classify(br#"40/chat,{"sid":"x"}"#), ChatIncoming::Connected);
        assert_eq!(classify(br#"40{"sid":"x"}"#), ChatIncoming::Other);
        assert_eq!(classify(br#"44/chat,{"message":"no"}"#), ChatIncoming::ConnectError);
        assert_eq!(classify(b"2"), ChatIncoming::Ping);
        assert_eq!(classify(b"1"), ChatIncoming::Close);
        assert_eq!(
            classify(br#"42/chat,["message:new",{"id":"a","text":"m 1"}]"#),
            ChatIncoming::MessageNew
        );
        assert_eq!(classify(br#"42/chat,["presence:update",{}]"#), ChatIncoming::Other);
        assert_eq!(classify(br#"42["message:new",{}]"#), ChatIncoming::Other);
        assert_eq!(
            classify(br#"43/chat,17[{"ok":true,"id":"x","seq":3}]"#),
            ChatIncoming::Ack { id: 17, ok: true }
        );
        assert_eq!(
            classify(br#"43/chat,5[{"ok":false,"error":{"code":"rate_limited"}}]"#),
            ChatIncoming::Ack { id: 5, ok: false }
        );
        assert_eq!(classify(br#"43/chat,[{"ok":true}]"#), ChatIncoming::Other);
        assert_eq!(classify(b""), ChatIncoming::Other);
    }

    #[test]
    fn writes_what_the_server_reads() {
        let mut out = Vec::new();
        write_connect(&mut out, "b-1");
        assert_eq!(out, br#"40/chat,{"username":"b-1"}"#);
        out.clear();
        write_join(&mut out, 0, ROOM);
        assert_eq!(out, br#"42/chat,0["room:join",{"roomId":"bench"}]"#);
        out.clear();
        write_send(&mut out, 9, ROOM);
        assert_eq!(out, br#"42/chat,9["message:send",{"roomId":"bench","text":"m 9"}]"#);
    }
}
