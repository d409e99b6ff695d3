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
    /// Process start (Unix ms) that `track_time_from_start` measures from; `None`: setup time.
    #[uniffi(default = None)]
    pub process_start_unix_ms: Option<i64>,
    /// How long items may wait before a partial batch is sealed (default: the core's 5 s).
    #[uniffi(default = None)]
    pub flush_interval_ms: Option<u64>,
    /// Record Rust panics as crashes (a chained panic hook; needs `data_dir`).
    #[uniffi(default = true)]
    pub capture_panics: bool,
}
