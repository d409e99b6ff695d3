//! The management API (admin key): flags, segments, evaluation, metrics and raw stats.

pub mod channels;
pub mod flags;
pub mod metrics;
pub mod segments;
pub mod sensitivity;
