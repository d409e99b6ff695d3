//! The flags list and a flag's page: rollout, version, killed state, active alerts, end of the
//! monitoring window; editing the rollout weights, kill and restore (each confirmed), and the
//! version history. Changes go through the admin API's own handlers.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use agent_core::wire::{FlagDefinition, Weight};

use super::forms::Fields;
use super::layout::{csrf, page, time};
use super::session::Signed;
use super::{Dash, error_page, html as respond, seg};
use crate::admin::flags as af;
use crate::alerts::record::{AlertFilter, AlertState};
use crate::auth::AdminAuth;
use crate::engine::recalc::rollout_rule;
use crate::error::ApiError;
use crate::monitoring::context::is_percentage_rollout;
use crate::server::blocking;
use crate::store::HistoryEntry;

/// Fill colours of treatments in bars and charts (AA contrast on white for the text labels).
pub const PALETTE: [&str; 6] = [
    "#1f5fbf", "#b3541e", "#2e7d32", "#7b3fa0", "#8a6d00", "#00707a",
];

/// Monitoring facts of one flag for the list.
#[derive(Debug, Clone, Default)]
pub struct FlagFacts {
    /// Alerts in state `fired` (policy and key-metric alerts).
    pub active_alerts: usize,
    /// End of the current version's monitoring window, Unix ms (None: not monitored).
    pub window_end_ms: Option<i64>,
}

/// Active alerts and window ends of every flag, in one pass over the store.
pub async fn facts(
    dash: &Dash,
    flags: &[FlagDefinition],
) -> Result<HashMap<String, FlagFacts>, ApiError> {
    let store = dash.app.store.clone();
    let flags = flags.to_vec();
    blocking(move || {
        let mut out: HashMap<String, FlagFacts> = HashMap::new();
        // Policy and key-metric alerts alike.
        for a in store.alert_items(AlertFilter {
            kind: None,
            state: Some(AlertState::Fired),
            flag: None,
            limit: Some(1000),
        })? {
            out.entry(a.flag().to_string()).or_default().active_alerts += 1;
        }
        let default_window = store.alert_settings()?.window_minutes;
        let policies = store.alert_policies()?;
        for f in &flags {
            let e = out.entry(f.key.clone()).or_default();
            // Monitored as the monitoring glue decides: live, split traffic, and a policy.
            let monitored = !f.killed
                && !f.archived
                && rollout_rule(f).is_some_and(is_percentage_rollout)
                && policies
                    .iter()
                    .any(|p| p.spec.flag.as_deref().is_none_or(|k| k == f.key));
            if monitored {
                let minutes = store.flag_window(&f.key)?.unwrap_or(default_window);
                let start = store
                    .flag_history(&f.key)?
                    .into_iter()
                    .find(|h| h.version == f.version)
                    .map(|h| h.changed_at);
                e.window_end_ms = start.map(|s| s + i64::from(minutes) * 60_000);
            }
        }
        Ok(out)
    })
    .await
}

/// A horizontal bar of rollout weights (SVG: no inline styles under the page's CSP).
pub fn rollout_bar(weights: &[Weight]) -> Markup {
    let label = weights
        .iter()
        .map(|w| format!("{} {} %", w.treatment, w.weight))
        .collect::<Vec<_>>()
        .join(", ");
    let offsets: Vec<u32> = weights
        .iter()
        .scan(0u32, |acc, w| {
            let x = *acc;
            *acc += w.weight;
            Some(x)
        })
        .collect();
    html! {
        svg.bar role="img" aria-label=(format!("Rollout: {label}")) viewBox="0 0 100 6"
            preserveAspectRatio="none" width="100%" height="14" {
            title { "Rollout: " (label) }
            @for (i, w) in weights.iter().enumerate() {
                rect x=(offsets[i]) y="0" width=(w.weight) height="6" fill=(PALETTE[i % PALETTE.len()]) {}
            }
        }
        ul.legend {
            @for (i, w) in weights.iter().enumerate() {
                li { span.swatch data-c=(i % PALETTE.len()) {} (w.treatment) " " (w.weight) " %" }
            }
        }
    }
}

fn status(f: &FlagDefinition) -> Markup {
    html! {
        @if f.archived { span.badge.muted { "archived" } }
        @else if f.killed { span.badge.bad { "killed" } }
        @else { span.badge.ok { "live" } }
    }
}

fn fixed(f: &FlagDefinition) -> String {
    match f.rules.last().and_then(|r| r.treatment.clone()) {
        Some(t) => format!("all: {t}"),
        None => format!("default: {}", f.default_treatment),
    }
}

/// `GET /ui/flags`.
pub async fn list_page(State(dash): State<Dash>, s: Signed) -> Response {
    let snap = dash.app.flags.current();
    let facts = match facts(&dash, &snap.flags).await {
        Ok(f) => f,
        Err(e) => return error_page(&e),
    };
    let body = html! {
        h1 { "Flags" }
        p.muted { "Flag set version " span data-live-version { (snap.version) } }
        @if snap.flags.is_empty() {
            p { "No flags yet. Create one with " code { "POST /api/v1/admin/flags" } "." }
        } @else {
            div.table-wrap tabindex="0" {
                table {
                    caption.sr { "Every flag with its rollout and monitoring" }
                    thead { tr {
                        th scope="col" { "Flag" } th scope="col" { "Rollout" }
                        th scope="col" { "Version" } th scope="col" { "State" }
                        th scope="col" { "Active alerts" } th scope="col" { "Monitoring until" }
                    } }
                    tbody {
                        @for f in &snap.flags {
                            @let fx = facts.get(&f.key).cloned().unwrap_or_default();
                            tr {
                                th scope="row" { a href=(format!("/ui/flags/{}", seg(&f.key))) { (f.key) } }
                                td.rollout {
                                    @match rollout_rule(f) {
                                        Some(r) => (rollout_bar(&r.rollout)),
                                        None => span.muted { (fixed(f)) },
                                    }
                                }
                                td { (f.version) }
                                td { (status(f)) }
                                td {
                                    @if fx.active_alerts > 0 {
                                        a.badge.bad href=(format!("/ui/alerts?flag={}", seg(&f.key))) { (fx.active_alerts) }
                                    } @else { "0" }
                                }
                                td { @match fx.window_end_ms { Some(t) => (time(t)), None => span.muted { "not monitored" } } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&dash, &s, "Flags", "/ui/flags", body))
}

fn current(dash: &Dash, key: &str) -> Result<FlagDefinition, ApiError> {
    dash.app
        .flags
        .current()
        .flag(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("flag {key:?} not found")))
}

fn history_table(h: &[HistoryEntry]) -> Markup {
    html! {
        div.table-wrap tabindex="0" {
            table {
                caption { "Version history (newest first)" }
                thead { tr {
                    th scope="col" { "Version" } th scope="col" { "Change" }
                    th scope="col" { "When" } th scope="col" { "Rollout after" }
                    th scope="col" { "Killed" }
                } }
                tbody {
                    @for e in h.iter().rev() {
                        tr {
                            td { (e.version) } td { (e.action) } td { (time(e.changed_at)) }
                            td { @match rollout_rule(&e.definition) {
                                Some(r) => (r.rollout.iter().map(|w| format!("{} {} %", w.treatment, w.weight)).collect::<Vec<_>>().join(", ")),
                                None => (fixed(&e.definition)),
                            } }
                            td { @if e.definition.killed { "yes" } @else { "no" } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/flags/{key}`.
pub async fn flag_page(State(dash): State<Dash>, s: Signed, Path(key): Path<String>) -> Response {
    let f = match current(&dash, &key) {
        Ok(f) => f,
        Err(e) => return error_page(&e),
    };
    let store = dash.app.store.clone();
    let k = key.clone();
    let history = match blocking(move || store.flag_history(&k)).await {
        Ok(h) => h,
        Err(e) => return error_page(&e),
    };
    let facts = match facts(&dash, std::slice::from_ref(&f)).await {
        Ok(x) => x.get(&key).cloned().unwrap_or_default(),
        Err(e) => return error_page(&e),
    };
    let base = format!("/ui/flags/{}", seg(&key));
    let body = html! {
        h1 { "Flag " code { (f.key) } }
        p { (status(&f)) " version " strong data-live-version { (f.version) }
            " · baseline " code { (f.baseline()) } " · default " code { (f.default_treatment) } }
        p { a.button href=(format!("{base}/impact")) { "Metrics impact" }
            " " a href=(format!("/ui/alerts?flag={}", seg(&key))) { (facts.active_alerts) " active alerts" }
            " · monitoring "
            @match facts.window_end_ms { Some(t) => { "until " (time(t)) }, None => "off" } }
        section.card aria-labelledby="rollout-h" {
            h2 #rollout-h { "Rollout" }
            @match rollout_rule(&f) {
                Some(rule) => {
                    (rollout_bar(&rule.rollout))
                    form method="post" action=(format!("{base}/rollout")) {
                        (csrf(&s))
                        fieldset {
                            legend { "Weights of rule " code { (rule.name) } " (percent, summing to 100)" }
                            @for (i, w) in rule.rollout.iter().enumerate() {
                                @let id = format!("w{i}");
                                div.field {
                                    label for=(id) { (w.treatment) }
                                    input id=(id) type="number" name=(format!("w:{}", w.treatment))
                                        min="0" max="100" step="1" required value=(w.weight);
                                }
                            }
                        }
                        button type="submit" { "Save rollout" }
                    }
                },
                None => p { "This flag has no percentage rollout rule (" (fixed(&f)) ")." },
            }
        }
        section.card aria-labelledby="kill-h" {
            h2 #kill-h { "Kill switch" }
            @if f.killed {
                form method="post" action=(format!("{base}/restore")) data-confirm=(format!("Restore flag {}?", f.key)) {
                    (csrf(&s))
                    div.field.check {
                        input #confirm-restore type="checkbox" name="confirm" value="yes" required;
                        label for="confirm-restore" { "Yes, restore " code { (f.key) } ": users get their rollout treatments again" }
                    }
                    button type="submit" { "Restore flag" }
                }
            } @else {
                form method="post" action=(format!("{base}/kill")) data-confirm=(format!("Kill flag {}? Every user gets {}.", f.key, f.default_treatment)) {
                    (csrf(&s))
                    div.field.check {
                        input #confirm-kill type="checkbox" name="confirm" value="yes" required;
                        label for="confirm-kill" { "Yes, kill " code { (f.key) } ": every user gets the default treatment " code { (f.default_treatment) } }
                    }
                    button.danger type="submit" { "Kill flag" }
                }
            }
        }
        section.card aria-labelledby="hist-h" {
            h2 #hist-h { "History" }
            (history_table(&history))
        }
    };
    respond(
        StatusCode::OK,
        page(&dash, &s, &format!("Flag {key}"), "/ui/flags", body),
    )
}

/// `POST /ui/flags/{key}/rollout`: fields `w:<treatment>` become the rollout rule's weights.
pub async fn post_rollout(
    State(dash): State<Dash>,
    s: Signed,
    Path(key): Path<String>,
    form: Fields,
) -> Response {
    if let Err(e) = s.check(&form) {
        return axum::response::IntoResponse::into_response(e);
    }
    let back = format!("/ui/flags/{}", seg(&key));
    let mut rollout = Vec::new();
    for (name, value) in &form.0 {
        let Some(t) = name.strip_prefix("w:") else {
            continue;
        };
        match value.trim().parse::<u32>() {
            Ok(weight) => rollout.push(Weight {
                treatment: t.to_string(),
                weight,
            }),
            Err(_) => {
                return s.redirect(
                    &dash,
                    &back,
                    true,
                    format!("{name}: {value:?} is not a whole number"),
                );
            }
        }
    }
    let change = af::RolloutChange {
        rule: None,
        rollout,
    };
    let body = match serde_json::to_vec(&change) {
        Ok(b) => Bytes::from(b),
        Err(e) => return error_page(&ApiError::internal(e.to_string())),
    };
    match af::change_rollout(State(dash.app.clone()), AdminAuth, Path(key), body).await {
        Ok(Json(f)) => s.redirect(
            &dash,
            &back,
            false,
            format!("Rollout saved: version {}", f.version),
        ),
        Err(e) => s.redirect(&dash, &back, true, e.message),
    }
}

async fn kill_or_restore(dash: Dash, s: Signed, key: String, form: Fields, kill: bool) -> Response {
    if let Err(e) = s.check(&form) {
        return axum::response::IntoResponse::into_response(e);
    }
    let back = format!("/ui/flags/{}", seg(&key));
    if form.get("confirm") != Some("yes") {
        return s.redirect(&dash, &back, true, "confirm: tick the box to confirm");
    }
    let app = State(dash.app.clone());
    let done = if kill {
        af::kill_flag(app, AdminAuth, Path(key)).await
    } else {
        af::restore_flag(app, AdminAuth, Path(key)).await
    };
    match done {
        Ok(Json(f)) => {
            let what = if kill { "killed" } else { "restored" };
            s.redirect(
                &dash,
                &back,
                false,
                format!("Flag {} {what}: version {}", f.key, f.version),
            )
        }
        Err(e) => s.redirect(&dash, &back, true, e.message),
    }
}

/// `POST /ui/flags/{key}/kill` (needs `confirm=yes`).
pub async fn post_kill(
    State(dash): State<Dash>,
    s: Signed,
    Path(key): Path<String>,
    form: Fields,
) -> Response {
    kill_or_restore(dash, s, key, form, true).await
}

/// `POST /ui/flags/{key}/restore` (needs `confirm=yes`).
pub async fn post_restore(
    State(dash): State<Dash>,
    s: Signed,
    Path(key): Path<String>,
    form: Fields,
) -> Response {
    kill_or_restore(dash, s, key, form, false).await
}
