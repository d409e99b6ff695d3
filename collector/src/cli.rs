//! Command line: `collector serve …` and `collector keys create …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::{generate_key, hash_key};
use crate::config::Config;
use crate::store::{Principal, SqliteStore, Store};

/// The collector command line.
#[derive(Debug, Parser)]
#[command(name = "collector", version, about = "Release-monitoring collector")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the HTTP server.
    Serve(ServeArgs),
    /// Manages API keys.
    Keys {
        /// Key subcommand.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Analyses NDJSON exports with the monitoring engine and prints the impact as JSON.
    Analyze(AnalyzeArgs),
}

/// Options of `collector serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COLLECTOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory (SQLite database).
    #[arg(long, env = "COLLECTOR_DATA", default_value = "collector-data")]
    pub data: PathBuf,
    /// Admin key to accept.
    #[arg(long, env = "COLLECTOR_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// SDK key to accept.
    #[arg(long, env = "COLLECTOR_SDK_KEY")]
    pub sdk_key: Option<String>,
    /// Environment of the SDK key.
    #[arg(long, env = "COLLECTOR_ENVIRONMENT", default_value = "production")]
    pub environment: String,
}

impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Config {
        let mut c = Config::new(a.listen, a.data);
        c.admin_key = a.admin_key;
        c.sdk_key = a.sdk_key;
        c.environment = a.environment;
        c
    }
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it (only its hash is stored).
    Create {
        /// An admin key (management API).
        #[arg(long, conflicts_with = "sdk", required_unless_present = "sdk")]
        admin: bool,
        /// An SDK key (batches and flags).
        #[arg(long)]
        sdk: bool,
        /// Environment of an SDK key.
        #[arg(long, default_value = "production")]
        environment: String,
        /// Data directory.
        #[arg(long, env = "COLLECTOR_DATA", default_value = "collector-data")]
        data: PathBuf,
    },
}

/// Creates a key in the store at `data` and returns it.
pub fn create_key(
    data: &std::path::Path,
    admin: bool,
    environment: &str,
) -> anyhow::Result<String> {
    let store = SqliteStore::open(data)?;
    let (key, principal) = if admin {
        (generate_key("adm"), Principal::Admin)
    } else {
        (
            generate_key("sdk"),
            Principal::Sdk {
                environment: environment.to_string(),
            },
        )
    };
    store.add_key(&hash_key(&key), &principal)?;
    store.close();
    Ok(key)
}

/// Options of `collector analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Impressions, one `Impression` JSON object per line.
    #[arg(long)]
    pub impressions: PathBuf,
    /// Events, one `Event` JSON object per line.
    #[arg(long)]
    pub events: PathBuf,
    /// Metric definitions, one per line (as `GET /api/v1/admin/metrics` returns them).
    #[arg(long)]
    pub metrics: PathBuf,
    /// Flag definitions, one per line (baseline, rollout rule and weights for the SRM check).
    #[arg(long)]
    pub flags: Option<PathBuf>,
    /// Baseline treatment for flags without a definition.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Only this flag.
    #[arg(long)]
    pub flag: Option<String>,
    /// Only this flag version.
    #[arg(long)]
    pub version: Option<u64>,
    /// Analysis time, Unix milliseconds (default: now).
    #[arg(long)]
    pub at: Option<i64>,
    /// Two-sided level.
    #[arg(long, default_value_t = crate::engine::analysis::DEFAULT_ALPHA)]
    pub alpha: f64,
}

/// Runs `collector analyze` and returns the reports as pretty JSON (an array, one per version).
pub fn run_analyze(a: &AnalyzeArgs) -> anyhow::Result<String> {
    use crate::engine::ndjson::{AnalyzeInput, analyze};
    let opts = crate::engine::RecalcOptions {
        at_ms: a.at.unwrap_or_else(crate::store::sqlite::now_ms),
        alpha: a.alpha,
        baseline: a.baseline.clone(),
    };
    let input = AnalyzeInput {
        impressions: &a.impressions,
        events: &a.events,
        metrics: &a.metrics,
        flags: a.flags.as_deref(),
        flag: a.flag.as_deref(),
        version: a.version,
    };
    let reports = analyze(&input, &opts)?;
    Ok(serde_json::to_string_pretty(&reports)?)
}
