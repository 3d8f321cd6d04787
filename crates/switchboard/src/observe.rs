//! The hooks the Admin UI's server side (feature `admin`, [`crate::admin`]) watches the
//! server through. Without the feature every hook is a no-op the compiler removes: the
//! [`Slot`] is empty and its [`Monitor`] a type with no value. With it, a hook is one branch
//! on an empty `OnceLock` until an admin is attached; the per-message counters are one
//! relaxed atomic load while no admin is attached anywhere in the process.

#[cfg(feature = "admin")]
pub(crate) use crate::admin::hook::{Slot, received, sent, sent_messages, sent_one};

#[cfg(not(feature = "admin"))]
pub(crate) use disabled::{Slot, received, sent, sent_messages, sent_one};

#[cfg(not(feature = "admin"))]
#[allow(dead_code)]
mod disabled {
    use switchboard_engine::{EncodedMessage, Message, TransportKind};

    use crate::{DisconnectReason, Socket};

    /// No admin can be attached: always empty.
    #[derive(Clone, Default)]
    pub(crate) struct Slot(());

    impl Slot {
        #[inline(always)]
        pub(crate) fn get(&self) -> Option<&Monitor> {
            None
        }
    }

    /// Has no value: the calls below cannot run.
    pub(crate) enum Monitor {}

    impl Monitor {
        pub(crate) fn raw_connection(&self, _: TransportKind) {
            match *self {}
        }
        pub(crate) fn raw_disconnection(&self, _: &'static str, _: TransportKind) {
            match *self {}
        }
        pub(crate) fn upgraded(&self) {
            match *self {}
        }
        pub(crate) fn socket_connected(&self, _: &Socket) {
            match *self {}
        }
        pub(crate) fn socket_disconnected(&self, _: &Socket, _: DisconnectReason) {
            match *self {}
        }
    }

    #[inline(always)]
    pub(crate) fn received(_: &Message) {}
    #[inline(always)]
    pub(crate) fn sent(_: &[EncodedMessage]) {}
    #[inline(always)]
    pub(crate) fn sent_one(_: &EncodedMessage) {}
    #[inline(always)]
    pub(crate) fn sent_messages(_: &[Message]) {}
}
