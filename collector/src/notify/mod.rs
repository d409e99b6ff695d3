//! Notifications: channels (webhook, email), the [`Notification`] payload alerts send, and the
//! [`Notifier`] that delivers in the background with retries and logs every attempt.
//!
//! Pending deliveries live in a durable outbox ([`outbox`]): a restart resumes them.

pub mod channel;
pub mod email;
pub mod notifier;
pub mod outbox;
pub mod payload;
pub mod sign;
pub mod store;
pub mod webhook;

pub use channel::{Channel, ChannelConfig, ChannelKind, NewChannel};
pub use notifier::{Notifier, NotifyConfig};
pub use outbox::{OutboxRow, OutboxStatus, OutboxStore};
pub use payload::{AlertDetails, AlertState, Impact, Interval, Notification, NotificationKind};
pub use store::{ChannelStore, Delivery, NewDelivery};
