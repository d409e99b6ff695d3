//! Checks of settings whose mistakes would otherwise show only as nothing ever delivered: the
//! SDK key travels in an HTTP header, and request paths are appended to the collector URL.

/// True when `text` can be sent as an HTTP header value as it is: visible ASCII and inner spaces.
pub(super) fn is_header_text(text: &str) -> bool {
    text.trim() == text && text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// What makes `url` unusable as the collector's base URL, if anything: request paths are
/// appended to it, so a query or fragment would swallow them (every batch refused); a key travels
/// in headers, never as user info; the host and port must be ones a request can reach.
pub(super) fn collector_url_problem(url: &str) -> Option<&'static str> {
    const NOT_HTTP: &str = "must be an http:// or https:// URL";
    const BAD_HOST: &str = "must name a host (an IPv6 address in brackets), then an optional port";
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some(NOT_HTTP);
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Some(NOT_HTTP);
    }
    if rest.contains(['?', '#']) || rest.contains(char::is_whitespace) || authority.contains('@') {
        return Some("must be a base URL without query, fragment, user info or spaces");
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, after)) => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Some(BAD_HOST),
            },
            None => return Some(BAD_HOST),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let bracketed = authority.starts_with('[');
    if host.is_empty()
        || host.contains(['[', ']'])
        || (host.contains(':') && !bracketed)
        || host.chars().any(char::is_control)
    {
        return Some(BAD_HOST);
    }
    let port_ok = |p: &str| {
        p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    };
    if port.is_some_and(|p| !port_ok(p)) {
        return Some("port must be 1 to 65535");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_urls_people_use_pass_and_broken_ones_do_not() {
        for ok in [
            "https://rum.example.com",
            "http://127.0.0.1:8080/base",
            "http://[::1]:8080",
            "http://[fe80::1%25eth0]:8080",
            "https://xn--bcher-kva.example",
            "https://bücher.example:443",
        ] {
            assert_eq!(collector_url_problem(ok), None, "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://h/?q",
            "https://h/#f",
            "https://u@h",
            "https://h :1",
            "http://h:0",
            "http://h:65536",
            "http://[::1",
            "http://a:b:1",
        ] {
            assert!(collector_url_problem(bad).is_some(), "{bad}");
        }
        assert!(is_header_text("sdk-key 1"));
        for bad in [" k", "k\n", "k\u{7f}", "clé"] {
            assert!(!is_header_text(bad), "{bad:?}");
        }
    }
}
