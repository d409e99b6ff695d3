//! The metrics page: every metric (type, direction, event type, auto-created), creating and
//! editing and deleting metrics, the key metrics of each flag, and alert policies (create, edit).
//! Every change is a JSON body handed to the admin API's own handler, so validation and error
//! messages are the API's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::forms::Fields;
use super::layout::{csrf, page, time};
use super::session::Signed;
use super::{Dash, error_page, html as respond, seg};
use crate::alerts::api as al;
use crate::alerts::policy::AlertPolicy;
use crate::auth::AdminAuth;
use crate::error::ApiError;
use crate::server::blocking;
use crate::store::Metric;
use stats::degradation::Threshold;

const METRIC_TYPES: [&str; 6] = ["count", "sum", "average", "ratio", "percent_users", "apdex"];

/// The metric form, empty or filled from `m`; `action` is where it posts.
fn metric_form(s: &Signed, m: Option<&Metric>, action: &str) -> Markup {
    let id = m.map_or("new".to_string(), |m| m.id.to_string());
    let f = |n: &str| format!("m{id}-{n}");
    let ty = m.map_or("count", |m| m.metric_type.as_str());
    let dir = m.map_or("decrease", |m| m.direction.as_str());
    html! {
        form.card method="post" action=(action) {
            h2 { @if let Some(m) = m { "Edit metric " (m.name) } @else { "New custom metric" } }
            (csrf(s))
            div.grid {
                div.field { label for=(f("name")) { "Name" } input id=(f("name")) name="name" required maxlength="200" value=[m.map(|m| m.name.as_str())]; }
                div.field { label for=(f("event")) { "Event type" } input id=(f("event")) name="event_type" required value=[m.map(|m| m.event_type.as_str())]; }
                div.field { label for=(f("type")) { "Aggregation" }
                    select id=(f("type")) name="metric_type" { @for t in METRIC_TYPES { option value=(t) selected[t == ty] { (t) } } } }
                div.field { label for=(f("dir")) { "Desired direction" }
                    select id=(f("dir")) name="direction" {
                        option value="decrease" selected[dir == "decrease"] { "decrease (lower is better)" }
                        option value="increase" selected[dir == "increase"] { "increase (higher is better)" } } }
                div.field { label for=(f("prop")) { "Value property (optional)" } input id=(f("prop")) name="value_property" value=[m.and_then(|m| m.value_property.as_deref())]; }
                div.field { label for=(f("den")) { "Denominator event type (ratio)" } input id=(f("den")) name="denominator_event_type" value=[m.and_then(|m| m.denominator_event_type.as_deref())]; }
                div.field { label for=(f("cap")) { "Cap per user (optional)" } input id=(f("cap")) name="cap" type="number" step="any" min="0" value=[m.and_then(|m| m.cap)]; }
                div.field { label for=(f("apdex")) { "Apdex target T in ms (apdex)" } input id=(f("apdex")) name="apdex_target_ms" type="number" step="any" min="0" value=[m.and_then(|m| m.apdex_target_ms)]; }
            }
            button type="submit" { @if m.is_some() { "Save metric" } @else { "Create metric" } }
        }
    }
}

/// The policy form, empty or filled from `p`; `action` is where it posts.
fn policy_form(
    s: &Signed,
    metrics: &[Metric],
    flags: &[String],
    p: Option<&AlertPolicy>,
    action: &str,
) -> Markup {
    let (rel, abs) = match p.map(|p| p.spec.threshold) {
        Some(Threshold::Absolute(a)) => (None, Some(a)),
        Some(Threshold::Relative(r)) => (Some(r * 100.0), None),
        None => (Some(10.0), None),
    };
    let id = p.map_or("new".to_string(), |p| p.id.to_string());
    let f = |n: &str| format!("p{id}-{n}");
    html! {
        form.card method="post" action=(action) {
            h2 { @if let Some(p) = p { "Edit policy " (p.spec.name) } @else { "New alert policy" } }
            (csrf(s))
            div.grid {
                div.field { label for=(f("name")) { "Name" } input id=(f("name")) name="name" required value=[p.map(|p| p.spec.name.as_str())]; }
                div.field { label for=(f("metric")) { "Metric" }
                    select id=(f("metric")) name="metric_id" { @for m in metrics {
                        option value=(m.id) selected[p.is_some_and(|p| p.spec.metric_id == m.id)] { (m.name) } } } }
                div.field { label for=(f("flag")) { "Flag" }
                    select id=(f("flag")) name="flag" {
                        option value="" { "every flag" }
                        @for k in flags { option value=(k) selected[p.is_some_and(|p| p.spec.flag.as_deref() == Some(k.as_str()))] { (k) } } } }
                div.field { label for=(f("rel")) { "Threshold, relative (%)" }
                    input id=(f("rel")) name="threshold_relative_pct" type="number" step="any" min="0" value=[rel]; }
                div.field { label for=(f("abs")) { "or absolute (metric units)" }
                    input id=(f("abs")) name="threshold_absolute" type="number" step="any" min="0" value=[abs]; }
                div.field { label for=(f("min")) { "Minimum users per treatment" }
                    input id=(f("min")) name="min_samples" type="number" min="2" step="1" value=[p.map(|p| p.spec.min_samples)]; }
                div.field.check {
                    input id=(f("kill")) name="kill_flag" type="checkbox" value="yes" checked[p.is_some_and(|p| p.spec.kill_flag)];
                    label for=(f("kill")) { "Kill the flag when it fires" } }
            }
            button type="submit" { @if p.is_some() { "Save policy" } @else { "Create policy" } }
        }
    }
}

async fn load(
    dash: &Dash,
) -> Result<(Vec<Metric>, Vec<AlertPolicy>, Vec<(String, Vec<i64>)>), ApiError> {
    let store = dash.app.store.clone();
    let flags: Vec<String> = dash
        .app
        .flags
        .current()
        .flags
        .iter()
        .map(|f| f.key.clone())
        .collect();
    blocking(move || {
        let keys = flags
            .into_iter()
            .map(|f| store.key_metrics(&f).map(|k| (f, k)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((store.metrics()?, store.alert_policies()?, keys))
    })
    .await
}

/// `GET /ui/metrics`.
pub async fn metrics_page(State(dash): State<Dash>, s: Signed) -> Response {
    let (metrics, policies, keys) = match load(&dash).await {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let flags: Vec<String> = keys.iter().map(|(f, _)| f.clone()).collect();
    let name = |id: i64| {
        metrics
            .iter()
            .find(|m| m.id == id)
            .map_or(format!("metric {id}"), |m| m.name.clone())
    };
    let body = html! {
        h1 { "Metrics" }
        div.table-wrap tabindex="0" { table {
            caption.sr { "Every metric" }
            thead { tr { @for h in ["Metric", "Type", "Direction", "Event type", "Origin", "Created", "Action"] { th scope="col" { (h) } } } }
            tbody { @for m in &metrics { tr data-metric=(m.id) {
                th scope="row" { (m.name) }
                td { (m.metric_type) } td { (m.direction) } td { code { (m.event_type) } }
                td { @if m.auto_created { "auto-created" } @else { "custom" } }
                td { (time(m.created_at)) }
                td { a href=(format!("/ui/metrics/{}", m.id)) aria-label=(format!("Edit metric {}", m.name)) { "Edit" }
                    form method="post" action=(format!("/ui/metrics/{}/delete", m.id)) data-confirm=(format!("Delete metric {}?", m.name)) {
                    (csrf(&s)) button.link type="submit" aria-label=(format!("Delete metric {}", m.name)) { "Delete" } } }
            } } }
        } }
        (metric_form(&s, None, "/ui/metrics"))
        section.card aria-labelledby="keys-h" {
            h2 #keys-h { "Key metrics per flag" }
            @if flags.is_empty() { p { "No flags yet." } }
            @for (flag, ids) in &keys {
                details {
                    summary { code { (flag) } " · " (ids.len()) " key metrics" }
                    form method="post" action=(format!("/ui/flags/{}/key-metrics", seg(flag))) {
                        (csrf(&s))
                        fieldset { legend { "Key metrics of " (flag) }
                            @for m in &metrics { div.field.check {
                                @let id = format!("k-{}-{}", seg(flag), m.id);
                                input id=(id) type="checkbox" name="metric_id" value=(m.id) checked[ids.contains(&m.id)];
                                label for=(id) { (m.name) } } } }
                        button type="submit" { "Save key metrics" }
                    }
                }
            }
        }
        section.card aria-labelledby="pol-h" {
            h2 #pol-h { "Alert policies" }
            @if policies.is_empty() { p { "No policies: no metric is a guardrail yet." } } @else {
                div.table-wrap tabindex="0" { table {
                    thead { tr { @for h in ["Policy", "Metric", "Flag", "Threshold", "Kills flag"] { th scope="col" { (h) } } } }
                    tbody { @for p in &policies { tr {
                        th scope="row" { a href=(format!("/ui/policies/{}", p.id)) { (p.spec.name) } }
                        td { (name(p.spec.metric_id)) }
                        td { (p.spec.flag.clone().unwrap_or_else(|| "every flag".into())) }
                        td { @match p.spec.threshold { Threshold::Relative(r) => { (format!("{:.1} %", r * 100.0)) }, Threshold::Absolute(a) => { (a) " (absolute)" } } }
                        td { @if p.spec.kill_flag { "yes" } @else { "no" } }
                    } } }
                } }
            }
        }
        @if !metrics.is_empty() { (policy_form(&s, &metrics, &flags, None, "/ui/policies")) }
    };
    respond(
        StatusCode::OK,
        page(&dash, &s, "Metrics", "/ui/metrics", body),
    )
}

/// `GET /ui/metrics/{id}`: the edit form of one metric.
pub async fn metric_page(State(dash): State<Dash>, s: Signed, Path(id): Path<i64>) -> Response {
    let store = dash.app.store.clone();
    let metrics = match blocking(move || store.metrics()).await {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let Some(m) = metrics.iter().find(|m| m.id == id) else {
        return error_page(&ApiError::not_found(format!("metric {id} not found")));
    };
    let body = html! {
        p.crumbs { a href="/ui/metrics" { "Metrics" } " › metric " (m.id) }
        @if m.auto_created { p data-auto-note { "Auto-created from the event type " code { (m.event_type) } "; editing keeps it marked auto-created. \
            Defaults are created only the first time an event type arrives: if you point this metric at another event \
            type or delete it, none is created again for " code { (m.event_type) } "." } }
        (metric_form(&s, Some(m), &format!("/ui/metrics/{id}/edit")))
    };
    respond(
        StatusCode::OK,
        page(
            &dash,
            &s,
            &format!("Metric {}", m.name),
            "/ui/metrics",
            body,
        ),
    )
}

/// `GET /ui/policies/{id}`: the edit form of one policy.
pub async fn policy_page(State(dash): State<Dash>, s: Signed, Path(id): Path<i64>) -> Response {
    let (metrics, policies, keys) = match load(&dash).await {
        Ok(x) => x,
        Err(e) => return error_page(&e),
    };
    let Some(p) = policies.iter().find(|p| p.id == id) else {
        return error_page(&ApiError::not_found(format!("policy {id} not found")));
    };
    let flags: Vec<String> = keys.into_iter().map(|(f, _)| f).collect();
    let body = html! {
        p.crumbs { a href="/ui/metrics" { "Metrics" } " › policy " (p.id) }
        (policy_form(&s, &metrics, &flags, Some(p), &format!("/ui/policies/{id}/edit")))
    };
    respond(
        StatusCode::OK,
        page(
            &dash,
            &s,
            &format!("Policy {}", p.spec.name),
            "/ui/metrics",
            body,
        ),
    )
}

fn to_body(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

fn metric_json(form: &Fields) -> Result<Value, String> {
    let mut v = json!({
        "name": form.text("name")?,
        "event_type": form.text("event_type")?,
        "metric_type": form.text("metric_type")?,
        "direction": form.text("direction")?,
    });
    for k in ["value_property", "denominator_event_type"] {
        if let Some(x) = form.opt_text(k) {
            v[k] = json!(x);
        }
    }
    for k in ["cap", "apdex_target_ms"] {
        if let Some(x) = form.opt_f64(k)? {
            v[k] = json!(x);
        }
    }
    Ok(v)
}

/// `POST /ui/metrics`: creates a custom metric.
pub async fn post_metric(State(dash): State<Dash>, s: Signed, form: Fields) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    let body = match metric_json(&form) {
        Ok(v) => to_body(&v),
        Err(e) => return s.redirect(&dash, "/ui/metrics", true, e),
    };
    match crate::admin::metrics::create_metric(State(dash.app.clone()), AdminAuth, body).await {
        Ok((_, Json(m))) => s.redirect(
            &dash,
            "/ui/metrics",
            false,
            format!("Metric {} created", m.name),
        ),
        Err(e) => s.redirect(&dash, "/ui/metrics", true, e.message),
    }
}

/// `POST /ui/metrics/{id}/edit`: replaces a metric's definition through the admin API.
pub async fn post_metric_edit(
    State(dash): State<Dash>,
    s: Signed,
    Path(id): Path<i64>,
    form: Fields,
) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    let back = format!("/ui/metrics/{id}");
    let body = match metric_json(&form) {
        Ok(v) => to_body(&v),
        Err(e) => return s.redirect(&dash, &back, true, e),
    };
    let update = crate::admin::metrics::update_metric;
    match update(State(dash.app.clone()), AdminAuth, Path(id), body).await {
        Ok(Json(m)) => s.redirect(
            &dash,
            "/ui/metrics",
            false,
            format!("Metric {} saved", m.name),
        ),
        Err(e) => s.redirect(&dash, &back, true, e.message),
    }
}

/// `POST /ui/metrics/{id}/delete`.
pub async fn post_delete_metric(
    State(dash): State<Dash>,
    s: Signed,
    Path(id): Path<i64>,
    form: Fields,
) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    match crate::admin::metrics::delete_metric(State(dash.app.clone()), AdminAuth, Path(id)).await {
        Ok(_) => s.redirect(&dash, "/ui/metrics", false, format!("Metric {id} deleted")),
        Err(e) => s.redirect(&dash, "/ui/metrics", true, e.message),
    }
}

/// `POST /ui/flags/{key}/key-metrics`: the ticked `metric_id` boxes become the key metrics.
pub async fn post_key_metrics(
    State(dash): State<Dash>,
    s: Signed,
    Path(key): Path<String>,
    form: Fields,
) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    let mut ids = Vec::new();
    for v in form.all("metric_id") {
        match v.parse::<i64>() {
            Ok(id) => ids.push(id),
            Err(_) => {
                return s.redirect(
                    &dash,
                    "/ui/metrics",
                    true,
                    format!("metric_id: {v:?} is not a metric id"),
                );
            }
        }
    }
    let body = to_body(&json!({ "metric_ids": ids }));
    let put = crate::monitoring::keys_http::put_key_metrics;
    match put(State(dash.app.clone()), AdminAuth, Path(key.clone()), body).await {
        Ok(Json(k)) => s.redirect(
            &dash,
            "/ui/metrics",
            false,
            format!("Key metrics of {key}: {} saved", k.metric_ids.len()),
        ),
        Err(e) => s.redirect(&dash, "/ui/metrics", true, e.message),
    }
}

/// The policy body from the form, over `base` (an edited policy keeps what the form lacks).
fn policy_json(form: &Fields, base: Value) -> Result<Value, String> {
    let mut v = base;
    v["name"] = json!(form.text("name")?);
    let metric = form.text("metric_id")?;
    v["metric_id"] = json!(
        metric
            .parse::<i64>()
            .map_err(|_| format!("metric_id: {metric:?} is not a metric id"))?
    );
    v["flag"] = form.opt_text("flag").map_or(Value::Null, Value::String);
    v["threshold"] = match (
        form.opt_f64("threshold_absolute")?,
        form.opt_f64("threshold_relative_pct")?,
    ) {
        (Some(a), _) => json!({ "absolute": a }),
        (None, Some(r)) => json!({ "relative": r / 100.0 }),
        (None, None) => {
            return Err("threshold_relative_pct: give a relative or an absolute threshold".into());
        }
    };
    if let Some(n) = form.opt_u64("min_samples")? {
        v["min_samples"] = json!(n);
    }
    v["kill_flag"] = json!(form.checked("kill_flag"));
    Ok(v)
}

/// `POST /ui/policies`: creates a policy.
pub async fn post_policy(State(dash): State<Dash>, s: Signed, form: Fields) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    let body = match policy_json(&form, json!({})) {
        Ok(v) => to_body(&v),
        Err(e) => return s.redirect(&dash, "/ui/metrics", true, e),
    };
    match al::create_policy(State(dash.app.clone()), AdminAuth, body).await {
        Ok((_, Json(p))) => s.redirect(
            &dash,
            "/ui/metrics",
            false,
            format!("Policy {} created", p.spec.name),
        ),
        Err(e) => s.redirect(&dash, "/ui/metrics", true, e.message),
    }
}

/// `POST /ui/policies/{id}/edit`: replaces the form's fields of a policy.
pub async fn post_policy_edit(
    State(dash): State<Dash>,
    s: Signed,
    Path(id): Path<i64>,
    form: Fields,
) -> Response {
    if let Err(e) = s.check(&form) {
        return e.into_response();
    }
    let back = format!("/ui/policies/{id}");
    let existing = match al::get_policy(State(dash.app.clone()), AdminAuth, Path(id)).await {
        Ok(Json(p)) => p,
        Err(e) => return s.redirect(&dash, "/ui/metrics", true, e.message),
    };
    let base = serde_json::to_value(&existing.spec).unwrap_or_else(|_| json!({}));
    let body = match policy_json(&form, base) {
        Ok(v) => to_body(&v),
        Err(e) => return s.redirect(&dash, &back, true, e),
    };
    match al::update_policy(State(dash.app.clone()), AdminAuth, Path(id), body).await {
        Ok(Json(p)) => s.redirect(
            &dash,
            "/ui/metrics",
            false,
            format!("Policy {} saved", p.spec.name),
        ),
        Err(e) => s.redirect(&dash, &back, true, e.message),
    }
}
