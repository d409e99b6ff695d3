//! Semantic versions compared the way Split's SDKs compare them (for the semver matchers).
//!
//! Split's rules, which differ from a strict SemVer 2.0 reading in two places:
//! - equality compares the normalised text *including* build metadata (`1.1.1` != `1.1.1+m`),
//!   while ordering ignores metadata (so `1.1.1 >= 1.1.1+m` and `1.1.1 <= 1.1.1+m` both hold);
//! - leading zeros are dropped from numeric parts (`00.01.002-0003` == `0.1.2-3`).
//!
//! Pre-releases order below their release; identifiers compare numerically when both are
//! numeric, else as text; a longer identifier list orders after its prefix. Parsing borrows the
//! input and never allocates, so matchers may parse attribute values on every evaluation.

use std::cmp::Ordering;

/// Why a string is not a semantic version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a semantic version: {reason}")]
pub struct SemverError {
    /// What is wrong with it.
    pub reason: &'static str,
}

fn err(reason: &'static str) -> SemverError {
    SemverError { reason }
}

/// A parsed semantic version borrowing its text: `MAJOR.MINOR.PATCH[-PRE][+META]`.
#[derive(Debug, Clone, Copy)]
pub struct Semver<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    pre: Option<&'a str>,
    meta: Option<&'a str>,
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Drops leading zeros from a numeric identifier, keeping at least one digit.
fn strip_zeros(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() {
        "0"
    } else {
        t
    }
}

/// Compares two zero-stripped digit strings of any length as numbers.
fn cmp_numeric(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// One pre-release identifier, normalised as Split does (numeric ones lose leading zeros).
fn ident(s: &str) -> &str {
    if is_numeric(s) { strip_zeros(s) } else { s }
}

fn cmp_ident(a: &str, b: &str) -> Ordering {
    let (a, b) = (ident(a), ident(b));
    if is_numeric(a) && is_numeric(b) {
        cmp_numeric(a, b)
    } else {
        a.cmp(b)
    }
}

impl<'a> Semver<'a> {
    /// Parses `text`, which must be `MAJOR.MINOR.PATCH` with optional `-PRE` and `+META`.
    pub fn parse(text: &'a str) -> Result<Semver<'a>, SemverError> {
        if text.is_empty() {
            return Err(err("empty"));
        }
        let (rest, meta) = match text.split_once('+') {
            Some(("", _)) => return Err(err("starts with '+'")),
            Some((_, "")) => return Err(err("empty build metadata")),
            Some((rest, meta)) => (rest, Some(meta)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some(("", _)) => return Err(err("starts with '-'")),
            Some((_, "")) => return Err(err("empty pre-release")),
            Some((core, pre)) => {
                if pre.split('.').any(str::is_empty) {
                    return Err(err("empty pre-release identifier"));
                }
                (core, Some(pre))
            }
            None => (rest, None),
        };
        let mut parts = core.split('.');
        let (Some(major), Some(minor), Some(patch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("expected MAJOR.MINOR.PATCH"));
        };
        if !(is_numeric(major) && is_numeric(minor) && is_numeric(patch)) {
            return Err(err("MAJOR, MINOR and PATCH must be numbers"));
        }
        Ok(Semver {
            major: strip_zeros(major),
            minor: strip_zeros(minor),
            patch: strip_zeros(patch),
            pre,
            meta,
        })
    }

    /// True for a release (no pre-release part).
    pub fn is_stable(&self) -> bool {
        self.pre.is_none()
    }

    /// Split's equality: the normalised versions, build metadata included, are identical.
    pub fn split_eq(&self, other: &Semver<'_>) -> bool {
        self.major == other.major
            && self.minor == other.minor
            && self.patch == other.patch
            && self.meta == other.meta
            && match (self.pre, other.pre) {
                (None, None) => true,
                (Some(a), Some(b)) => a.split('.').map(ident).eq(b.split('.').map(ident)),
                _ => false,
            }
    }

    /// Split's ordering (build metadata ignored unless the versions are otherwise identical).
    pub fn compare(&self, other: &Semver<'_>) -> Ordering {
        if self.split_eq(other) {
            return Ordering::Equal;
        }
        let core = cmp_numeric(self.major, other.major)
            .then_with(|| cmp_numeric(self.minor, other.minor))
            .then_with(|| cmp_numeric(self.patch, other.patch));
        if core != Ordering::Equal {
            return core;
        }
        match (self.pre, other.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => {
                let (mut ia, mut ib) = (a.split('.'), b.split('.'));
                loop {
                    match (ia.next(), ib.next()) {
                        (Some(x), Some(y)) => match cmp_ident(x, y) {
                            Ordering::Equal => continue,
                            other => return other,
                        },
                        (Some(_), None) => return Ordering::Greater,
                        (None, Some(_)) => return Ordering::Less,
                        (None, None) => return Ordering::Equal,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Semver<'_> {
        Semver::parse(s).expect("valid version")
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "a.b.c",
            "1.2.x",
            "+1.2.3",
            "-1.2.3",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            " 1.2.3",
            "1.2.3 ",
            "1..3",
            "v1.2.3",
        ] {
            assert!(Semver::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn orders_pre_releases_below_releases_and_numerically() {
        assert_eq!(v("1.0.0-alpha").compare(&v("1.0.0")), Ordering::Less);
        assert_eq!(
            v("1.0.0-beta.11").compare(&v("1.0.0-beta.2")),
            Ordering::Greater
        );
        assert_eq!(
            v("1.0.0-alpha").compare(&v("1.0.0-alpha.1")),
            Ordering::Less
        );
        assert_eq!(v("1.0.0-1").compare(&v("1.0.0-alpha")), Ordering::Less);
        assert_eq!(v("10.0.0").compare(&v("9.99.99")), Ordering::Greater);
        assert_eq!(v("1.1.1").compare(&v("1.1.1+meta")), Ordering::Equal);
        assert!(!v("1.1.1").split_eq(&v("1.1.1+meta")));
        assert!(v("01.002.0003-04").split_eq(&v("1.2.3-4")));
        assert!(v("99999999999999999999999.0.0").is_stable());
        assert_eq!(
            v("99999999999999999999999.0.0").compare(&v("99999999999999999999998.0.0")),
            Ordering::Greater
        );
    }
}
