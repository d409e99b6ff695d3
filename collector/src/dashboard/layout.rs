//! The page frame (landmarks, navigation, skip link, flash message) and number/time formatting
//! shared by the pages.

use maud::{DOCTYPE, Markup, html};

use super::Dash;
use super::session::Signed;

/// The navigation entries: (path, label).
const NAV: [(&str, &str); 4] = [
    ("/ui/flags", "Flags"),
    ("/ui/alerts", "Alerts"),
    ("/ui/metrics", "Metrics"),
    ("/ui/sensitivity", "Sensitivity"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · rum" }
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "rum" } }
                main #main { (body) }
            }
        }
    }
}

/// A signed-in page: navigation (`active` marks the current entry), the session's pending
/// message, the CSRF token for the page's script, and `body`.
pub fn page(dash: &Dash, s: &Signed, title: &str, active: &str, body: Markup) -> Markup {
    let flash = dash.sessions.take_flash(&s.token);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-live="/ui/live" {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "rum" }
                    nav aria-label="Main" {
                        ul {
                            @for (href, label) in NAV {
                                li {
                                    @if href == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/ui/sign-out" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        button.link type="submit" { "Sign out" }
                    }
                }
                main #main {
                    p #live-status .live role="status" aria-live="polite" {}
                    @if let Some(f) = flash {
                        @if f.error {
                            p.flash.error role="alert" { (f.text) }
                        } @else {
                            p.flash.ok role="status" { (f.text) }
                        }
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every POST form carries.
pub fn csrf(s: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// A number with about four significant digits.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        trim(format!("{x:.3}"))
    } else if a >= 0.001 {
        trim(format!("{x:.4}"))
    } else {
        format!("{x:.2e}")
    }
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A fraction as a signed percentage (`+12.3 %`).
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1} %", x * 100.0)
    } else {
        "–".into()
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
        assert_eq!(time(1_795_833_745_000), "2026-11-28 02:42 UTC");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(pct(0.1234), "+12.3 %");
        assert_eq!(pct(-0.05), "-5.0 %");
    }
}
