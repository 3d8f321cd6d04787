//! The payloads the chat sends (client → server requests are read into structs where they are
//! handled). camelCase on the wire.

use serde::Serialize;

/// `session`: who this connection is and its rooms.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) username: &'a str,
    pub(crate) rooms: &'a [String],
}

/// `presence:update`: someone joined, left, came online or went offline in a room.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceUpdate<'a> {
    pub(crate) room_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) username: &'a str,
    /// `online`, `left` or `offline`.
    pub(crate) status: &'a str,
}

/// `typing:update` to the others of a room.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TypingNotice<'a> {
    pub(crate) room_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) username: &'a str,
    pub(crate) is_typing: bool,
}

/// `message:status`: a receipt for one of the user's messages.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageStatus<'a> {
    pub(crate) message_id: &'a str,
    pub(crate) room_id: &'a str,
    pub(crate) user_id: &'a str,
    pub(crate) username: &'a str,
    /// `delivered` or `read`.
    pub(crate) status: &'a str,
}

/// A member of a room in the `room:join` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberState {
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) online: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn payloads_are_camel_case() {
        let p = super::PresenceUpdate { room_id: "r", user_id: "u", username: "U", status: "left" };
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            json!({ "roomId": "r", "userId": "u", "username": "U", "status": "left" })
        );
        let t = super::TypingNotice { room_id: "r", user_id: "u", username: "U", is_typing: true };
        assert_eq!(serde_json::to_value(t).unwrap()["isTyping"], json!(true));
    }
}
