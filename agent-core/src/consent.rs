//! The user's consent to telemetry, as both agents (threaded and local) honour it.

/// The user's consent to telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consent {
    /// Record and send.
    Granted,
    /// Record nothing and forget what is queued (flags are still evaluated).
    Declined,
    /// Not decided yet: record and queue, but send nothing until granted.
    #[default]
    Unknown,
}

impl Consent {
    /// Its code in an atomic (and across FFI): 0 granted, 1 declined, 2 unknown.
    pub fn code(self) -> u8 {
        match self {
            Consent::Granted => 0,
            Consent::Declined => 1,
            Consent::Unknown => 2,
        }
    }

    /// The consent of `code` (see [`Consent::code`]); anything else is unknown.
    pub fn from_code(code: u8) -> Consent {
        match code {
            0 => Consent::Granted,
            1 => Consent::Declined,
            _ => Consent::Unknown,
        }
    }
}
