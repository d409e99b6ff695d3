//! The browser demo: the browser agent (bindings-wasm) in a real page you click through.
//!
//! A collector on the embedded SQLite default with the rollout demo's 50/50 flag, and a small
//! shop page served from another origin (as a real site would be) that loads the built package
//! (`bindings-wasm/dist`, made by `bindings-wasm/scripts/build.sh`). The page's new checkout
//! (treatment `on`) fails one payment in three; each visitor's impressions, checkouts, errors,
//! page load and web vitals reach the collector, whose dashboard (`/ui/`) compares the two
//! treatments once its monitoring has run (every minute).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use collector::config::Config;
use collector::server::BackgroundCollector;
use serde_json::json;

use crate::admin::Admin;
use crate::rollout::{ADMIN_KEY, FLAG, SDK_KEY, flag};

/// The page: plain HTML and an inline module script (see examples/browser/index.html).
const PAGE: &str = include_str!("../browser/index.html");
/// The package files the page loads, from the dist directory.
const PACKAGE_FILES: [&str; 2] = ["agent.js", "rum_agent_wasm_bg.wasm"];
/// What a site's policy that forbids `eval` allows: the page's inline module, and compiling the
/// wasm. The agent needs no more.
const SCRIPT_POLICY: &str = "script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'";

/// How to run the browser demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// The built package (`agent.js` and the wasm); see [`default_dist`].
    pub dist: PathBuf,
    /// Where the collector keeps its data; a temporary directory when `None`.
    pub data_dir: Option<PathBuf>,
    /// The collector's monitoring period (the dashboard's comparisons refresh at each run).
    pub monitor_interval: Duration,
}

/// `bindings-wasm/dist` of this checkout.
pub fn default_dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings-wasm/dist")
}

impl Default for Options {
    fn default() -> Options {
        Options {
            dist: default_dist(),
            data_dir: None,
            monitor_interval: Duration::from_secs(60),
        }
    }
}

/// The running demo: the collector and the page's server, until [`BrowserDemo::stop`] or drop.
pub struct BrowserDemo {
    collector: Option<BackgroundCollector>,
    site: Option<Site>,
    _tmp: Option<tempfile::TempDir>,
    /// The shop page to open in a browser.
    pub page_url: String,
    /// The collector's base URL (its dashboard is at `/ui/`).
    pub collector_url: String,
    /// Where the collector keeps its data (its SQLite file is `collector.db` there).
    pub collector_dir: PathBuf,
    /// The collector's admin key (to sign in to the dashboard).
    pub admin_key: &'static str,
    /// The flag the page evaluates.
    pub flag: &'static str,
    /// Whether that flag is killed (by an earlier run on the same data dir): everyone gets `off`.
    pub flag_killed: bool,
}

impl BrowserDemo {
    /// Stops the page's server, then the collector.
    pub fn stop(mut self) -> anyhow::Result<()> {
        drop(self.site.take());
        match self.collector.take() {
            Some(c) => c.stop(),
            None => Ok(()),
        }
    }
}

/// Starts the collector with the flag, and the page's server; answers where they are.
pub fn start(options: Options) -> anyhow::Result<BrowserDemo> {
    let package = read_package(&options.dist)?;
    let (data_dir, tmp) = crate::data_dir(options.data_dir)?;
    let collector_dir = data_dir.join("collector");
    let mut config = Config::new(([127, 0, 0, 1], 0).into(), collector_dir.clone());
    config.admin_key = Some(ADMIN_KEY.into());
    config.sdk_key = Some(SDK_KEY.into());
    config.monitor_interval = options.monitor_interval;
    let collector = BackgroundCollector::start(config)?;
    let collector_url = collector.url();
    let admin = Admin::new(collector_url.clone(), ADMIN_KEY);
    // A data dir of an earlier run keeps its flag as it was left (killed in the dashboard, say).
    let flag_killed = match admin.send("GET", &format!("/api/v1/admin/flags/{FLAG}"), None) {
        Ok(existing) => existing["killed"] == true,
        Err(_) => {
            admin.send("POST", "/api/v1/admin/flags", Some(flag()))?;
            false
        }
    };
    let site = Site::start(package, &collector_url)?;
    Ok(BrowserDemo {
        page_url: format!("http://{}/", site.addr),
        site: Some(site),
        collector: Some(collector),
        _tmp: tmp,
        collector_url,
        collector_dir,
        admin_key: ADMIN_KEY,
        flag: FLAG,
        flag_killed,
    })
}

/// The package's files, read once: the demo serves what was built when it started.
fn read_package(dist: &Path) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    PACKAGE_FILES
        .iter()
        .map(|name| {
            let path = dist.join(name);
            let bytes = std::fs::read(&path).with_context(|| {
                format!(
                    "{} is missing: build the browser package first with \
                     `bash bindings-wasm/scripts/build.sh` (it needs `npm ci` in bindings-wasm, \
                     the wasm32-unknown-unknown target and wasm-opt; see .ci/run)",
                    path.display()
                )
            })?;
            Ok((*name, bytes))
        })
        .collect()
}

/// The shop's own origin: the page, its settings and the package, on a runtime of its own.
struct Site {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Site {
    fn start(package: Vec<(&'static str, Vec<u8>)>, collector_url: &str) -> anyhow::Result<Site> {
        let settings = json!({"sdkKey": SDK_KEY, "collector": collector_url, "flag": FLAG});
        let mut router = Router::new()
            .route("/", get(|| async { page() }))
            .route("/settings.json", get(move || async move { Json(settings) }));
        for (name, bytes) in package {
            let kind = if name.ends_with(".wasm") {
                "application/wasm"
            } else {
                "text/javascript"
            };
            router = router.route(
                &format!("/dist/{name}"),
                get(move || async move { ([(header::CONTENT_TYPE, kind)], bytes) }),
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("demo-site".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("the demo page's server stopped: {e}");
                    }
                });
            })?;
        Ok(Site {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The page under the script policy.
fn page() -> Response {
    let mut response = axum::response::Html(PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPT_POLICY),
    );
    response
}
