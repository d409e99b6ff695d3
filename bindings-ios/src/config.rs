//! The setup record the app fills in (Swift: `RumConfig(sdkKey:collectorUrl:...)`).

/// How to set up a [`crate::RumAgent`].
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RumConfig {
    /// SDK key of the environment (sent as the bearer token).
    pub sdk_key: String,
    /// Base URL of the collector, e.g. `https://collector.example.com`.
    pub collector_url: String,
    /// Directory for the spool, flag cache and crash records (e.g. Application Support); `None`
    /// keeps everything in memory, so crashes and unsent events are lost.
    #[uniffi(default = None)]
    pub data_dir: Option<String>,
    /// Traffic type of the keys events are tracked for.
    #[uniffi(default = "user")]
    pub traffic_type: String,
    /// Keep flag definitions current from the collector (Rust HTTP client, SSE and polling).
    #[uniffi(default = true)]
    pub sync_flags: bool,
    /// Process start (Unix ms) that `track_time_from_start` measures from; `None`: the
    /// process's start as the OS reports it (`sysctl`, as Apple's tools read it).
    /// Up to a minute ahead of the clock is taken as now (the clock stepped back since launch);
    /// further ahead, or before 2000 (seconds given for milliseconds), is `BadConfig`.
    #[uniffi(default = None)]
    pub process_start_unix_ms: Option<i64>,
    /// How long items may wait before a partial batch is sealed (default: the core's 5 s).
    #[uniffi(default = None)]
    pub flush_interval_ms: Option<u64>,
    /// Record Rust panics as crashes (a chained panic hook; needs `data_dir`).
    #[uniffi(default = true)]
    pub capture_panics: bool,
    /// The user's consent at start; `None`: granted (see `RumAgent::set_consent`).
    #[uniffi(default = None)]
    pub consent: Option<Consent>,
}

/// The user's consent to telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Consent {
    /// Record and send.
    Granted,
    /// Record nothing (crashes included) and forget what is kept; flags still evaluate.
    Declined,
    /// Not decided yet: record and keep (on disk with a data dir), send nothing until granted.
    Unknown,
}

impl From<Consent> for agent_core::Consent {
    fn from(c: Consent) -> Self {
        match c {
            Consent::Granted => agent_core::Consent::Granted,
            Consent::Declined => agent_core::Consent::Declined,
            Consent::Unknown => agent_core::Consent::Unknown,
        }
    }
}

impl From<agent_core::Consent> for Consent {
    fn from(c: agent_core::Consent) -> Self {
        match c {
            agent_core::Consent::Granted => Consent::Granted,
            agent_core::Consent::Declined => Consent::Declined,
            agent_core::Consent::Unknown => Consent::Unknown,
        }
    }
}
