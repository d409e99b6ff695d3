//! `GET /ui/live`: a small server-sent event stream for open pages. `flags` carries the flag-set
//! version from the same broadcast the SDK stream uses; `alerts` carries the newest alert id (of
//! either kind) and `checks` the newest logged check, both looked up every few seconds (they
//! have no broadcast). The page's script reloads its main content when one changes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::Dash;
use super::session::Signed;
use crate::alerts::record::AlertFilter;
use crate::server::blocking;

/// How often the newest alert id is looked up.
pub const ALERT_POLL: Duration = Duration::from_secs(5);

async fn newest_alert(dash: &Dash) -> i64 {
    let store = dash.app.store.clone();
    blocking(move || {
        store.alert_items(AlertFilter {
            limit: Some(1),
            ..AlertFilter::default()
        })
    })
    .await
    .ok()
    .and_then(|a| a.first().map(|a| a.id()))
    .unwrap_or(0)
}

async fn newest_check(dash: &Dash) -> i64 {
    let store = dash.app.store.clone();
    blocking(move || store.newest_check_id()).await.unwrap_or(0)
}

/// Handler of `/ui/live`.
pub async fn stream(
    State(dash): State<Dash>,
    _s: Signed,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = dash.app.flags.subscribe();
    let version = dash.app.flags.current().version;
    let alert = newest_alert(&dash).await;
    let check = newest_check(&dash).await;
    let first = stream::iter([
        Ok(Event::default().event("flags").data(version.to_string())),
        Ok(Event::default().event("alerts").data(alert.to_string())),
        Ok(Event::default().event("checks").data(check.to_string())),
    ]);
    let mut tick = tokio::time::interval(ALERT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let updates = stream::unfold(
        (rx, tick, (alert, check), dash.clone()),
        |(mut rx, mut tick, mut last, dash)| async move {
            loop {
                tokio::select! {
                    v = rx.recv() => {
                        let v = match v {
                            Ok(v) => v,
                            Err(RecvError::Lagged(_)) => dash.app.flags.current().version,
                            Err(RecvError::Closed) => return None,
                        };
                        let ev = Event::default().event("flags").data(v.to_string());
                        return Some((Ok(ev), (rx, tick, last, dash)));
                    }
                    _ = tick.tick() => {
                        let now = (newest_alert(&dash).await, newest_check(&dash).await);
                        // An alert comes with its check: announce the alert (one reload).
                        let ev = if now.0 != last.0 {
                            Event::default().event("alerts").data(now.0.to_string())
                        } else if now.1 != last.1 {
                            Event::default().event("checks").data(now.1.to_string())
                        } else {
                            continue;
                        };
                        last = now;
                        return Some((Ok(ev), (rx, tick, last, dash)));
                    }
                }
            }
        },
    );
    let mut shutdown = dash.app.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    Sse::new(first.chain(updates).take_until(stop))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
