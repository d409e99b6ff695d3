//! Notifications: channels (webhook, email), the [`Notification`] payload alerts send, and the
//! [`Notifier`] that delivers in the background with retries and logs every attempt.
//!
//! Pending deliveries live in an in-memory queue: a restart loses deliveries not yet finished
//! (their attempts so far stay in the log).

pub mod channel;
pub mod email;
pub mod notifier;
pub mod payload;
pub mod sign;
pub mod store;
pub mod webhook;

pub use channel::{Channel, ChannelConfig, ChannelKind, NewChannel};
pub use notifier::{Notifier, NotifyConfig};
pub use payload::{AlertDetails, AlertState, Impact, Interval, Notification, NotificationKind};
pub use store::{ChannelStore, Delivery, NewDelivery};
