//! The notifications' part of the store (implemented by each database in `crate::store`).

use crate::store::{Notification, Result};

/// The notifications' part of the store. Each database implements it in `crate::store`.
pub(crate) trait NotificationStorage {
    /// Stores a notification.
    fn insert_notification(&mut self, notification: Notification) -> Result<()>;
    /// The newest `limit` notifications of a user, newest first.
    fn notifications(&mut self, user_id: &str, limit: u32) -> Result<Vec<Notification>>;
    /// Marks one (or, with `None`, every) notification of a user read.
    fn read_notifications(&mut self, user_id: &str, id: Option<&str>) -> Result<()>;
    /// The unread notifications of a user.
    fn unread_count(&mut self, user_id: &str) -> Result<u64>;
}
