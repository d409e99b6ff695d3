//! Matcher semantics: whether one compiled matcher holds for a key and its attributes.
//!
//! A missing attribute, or one of a type the matcher cannot read, makes the matcher false
//! before negation (so a negated matcher then holds), as in Split's evaluators.

use serde_json::Value;

use super::compile::{CompiledMatcher, Expected, Test, ValueSet, parse_bool, parse_number};
use super::{Chain, Ctx, Inner, MAX_DEPENDENCY_DEPTH};
use crate::semver::Semver;

/// An attribute value as matchers read it.
#[derive(Clone, Copy)]
enum Actual<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    List(&'a [Value]),
}

impl<'a> Actual<'a> {
    fn of(v: &'a Value) -> Option<Actual<'a>> {
        match v {
            Value::String(s) => Some(Actual::Str(s)),
            Value::Number(n) => n.as_f64().map(Actual::Num),
            Value::Bool(b) => Some(Actual::Bool(*b)),
            Value::Array(a) => Some(Actual::List(a)),
            Value::Null | Value::Object(_) => None,
        }
    }

    fn as_str(self) -> Option<&'a str> {
        match self {
            Actual::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number, or a string holding one.
    fn as_number(self) -> Option<f64> {
        match self {
            Actual::Num(n) => Some(n),
            Actual::Str(s) => parse_number(s),
            _ => None,
        }
    }
}

/// The value `attr` names: the matching key when `None`.
fn lookup<'a>(ctx: &Ctx<'a>, attr: Option<&str>) -> Option<Actual<'a>> {
    match attr {
        None => Some(Actual::Str(ctx.key)),
        Some(name) => ctx.attributes.get(name).and_then(Actual::of),
    }
}

fn named<'a>(ctx: &Ctx<'a>, attr: &str) -> Option<Actual<'a>> {
    lookup(ctx, Some(attr))
}

impl CompiledMatcher {
    /// True when the matcher (after negation) holds.
    pub(crate) fn matches(&self, set: &Inner, ctx: &Ctx<'_>, chain: &Chain<'_>) -> bool {
        self.test.holds(set, ctx, chain) != self.negate
    }
}

fn in_list(values: &ValueSet, v: Actual<'_>) -> bool {
    match v {
        Actual::Str(s) => values.strings.contains(s),
        Actual::Num(n) => values.numbers.contains(&n),
        Actual::Bool(b) => values.strings.contains(if b { "true" } else { "false" }),
        Actual::List(_) => false,
    }
}

fn equals(expected: &Expected, v: Actual<'_>) -> bool {
    match (expected, v) {
        (Expected::Num(e), v) => v.as_number() == Some(*e),
        (Expected::Bool(e), Actual::Bool(b)) => b == *e,
        (Expected::Bool(e), Actual::Str(s)) => parse_bool(s) == Some(*e),
        (Expected::Str { text, .. }, Actual::Str(s)) => s == text,
        (Expected::Str { num, .. }, Actual::Num(n)) => *num == Some(n),
        (Expected::Str { boolean, .. }, Actual::Bool(b)) => *boolean == Some(b),
        _ => false,
    }
}

fn any_str(v: Option<Actual<'_>>, values: &[String], f: impl Fn(&str, &str) -> bool) -> bool {
    match v.and_then(Actual::as_str) {
        Some(s) => values.iter().any(|x| f(s, x)),
        None => false,
    }
}

/// `str::contains` by bytes. Same answer (UTF-8 is self-synchronising: a valid needle found
/// in valid text starts and ends on char boundaries), but core's `&str` searcher carries the
/// panic message for a bad char boundary, which keeps `char` `Debug` and core's Unicode tables
/// (8.5 KB) in the browser's wasm.
fn contains_str(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty()
        || haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w == needle)
}

/// Compares an attribute's version with a bound: `None` when the attribute is no version.
fn semver_cmp(v: Option<Actual<'_>>, bound: &str) -> Option<std::cmp::Ordering> {
    let actual = Semver::parse(v?.as_str()?).ok()?;
    let bound = Semver::parse(bound).ok()?;
    Some(actual.compare(&bound))
}

fn list_has(list: &[Value], s: &str) -> bool {
    list.iter().any(|x| x.as_str() == Some(s))
}

impl Test {
    fn holds(&self, set: &Inner, ctx: &Ctx<'_>, chain: &Chain<'_>) -> bool {
        match self {
            Test::AllKeys => true,
            Test::KeyInList(keys) => keys.contains(ctx.key),
            Test::InSegment(name) => set
                .segments
                .get(name.as_str())
                .is_some_and(|s| s.keys.contains(ctx.key)),
            Test::Equals { attr, expected } => {
                lookup(ctx, attr.as_deref()).is_some_and(|v| equals(expected, v))
            }
            Test::InList { attr, values } => {
                lookup(ctx, attr.as_deref()).is_some_and(|v| in_list(values, v))
            }
            Test::NotInList { attr, values } => match lookup(ctx, attr.as_deref()) {
                Some(Actual::List(_)) | None => false,
                Some(v) => !in_list(values, v),
            },
            Test::AtLeast { attr, bound } => named(ctx, attr)
                .and_then(Actual::as_number)
                .is_some_and(|n| n >= *bound),
            Test::AtMost { attr, bound } => named(ctx, attr)
                .and_then(Actual::as_number)
                .is_some_and(|n| n <= *bound),
            Test::Between { attr, start, end } => named(ctx, attr)
                .and_then(Actual::as_number)
                .is_some_and(|n| *start <= n && n <= *end),
            Test::StartsWith { attr, values } => {
                any_str(lookup(ctx, attr.as_deref()), values, |s, x| {
                    s.starts_with(x)
                })
            }
            Test::EndsWith { attr, values } => {
                any_str(lookup(ctx, attr.as_deref()), values, |s, x| s.ends_with(x))
            }
            Test::Contains { attr, values } => {
                any_str(lookup(ctx, attr.as_deref()), values, contains_str)
            }
            Test::Regex { attr, re } => lookup(ctx, attr.as_deref())
                .and_then(Actual::as_str)
                .is_some_and(|s| re.is_match(s)),
            Test::Boolean { attr, value } => match named(ctx, attr) {
                Some(Actual::Bool(b)) => b == *value,
                Some(Actual::Str(s)) => parse_bool(s) == Some(*value),
                _ => false,
            },
            Test::SemverEquals { attr, value } => {
                let actual = named(ctx, attr).and_then(Actual::as_str);
                match (actual.map(Semver::parse), Semver::parse(value)) {
                    (Some(Ok(a)), Ok(b)) => a.split_eq(&b),
                    _ => false,
                }
            }
            Test::SemverAtLeast { attr, value } => {
                semver_cmp(named(ctx, attr), value).is_some_and(|o| o.is_ge())
            }
            Test::SemverAtMost { attr, value } => {
                semver_cmp(named(ctx, attr), value).is_some_and(|o| o.is_le())
            }
            Test::SemverBetween { attr, start, end } => {
                let v = named(ctx, attr);
                semver_cmp(v, start).is_some_and(|o| o.is_ge())
                    && semver_cmp(v, end).is_some_and(|o| o.is_le())
            }
            Test::SetContainsAny { attr, values } => match named(ctx, attr) {
                Some(Actual::List(list)) => values.iter().any(|x| list_has(list, x)),
                _ => false,
            },
            Test::SetContainsAll { attr, values } => match named(ctx, attr) {
                Some(Actual::List(list)) => values.iter().all(|x| list_has(list, x)),
                _ => false,
            },
            Test::DependsOn { flag, treatments } => {
                // A cycle or an over-deep chain does not match rather than recursing on.
                if chain.depth >= MAX_DEPENDENCY_DEPTH || chain.contains(flag) {
                    return false;
                }
                let got = set.resolve(ctx, flag, Some(chain));
                treatments.iter().any(|t| t == got.treatment)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_str;
    use crate::test_rng::XorShift;

    /// A random string over a small alphabet with multibyte characters, so matches are common.
    fn random_string(rng: &mut XorShift, max_chars: u64) -> String {
        const ALPHABET: &[char] = &['a', 'b', 'é', 'ß', '€', '中', '😀', '\u{0}', 'a', 'b'];
        let len = rng.below(max_chars + 1);
        (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    #[test]
    fn contains_str_answers_as_str_contains() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut found = 0;
        for _ in 0..50_000 {
            let haystack = random_string(&mut rng, 12);
            let needle = random_string(&mut rng, 4);
            let expected = haystack.contains(needle.as_str());
            assert_eq!(
                contains_str(&haystack, &needle),
                expected,
                "{haystack:?} contains {needle:?}"
            );
            found += usize::from(expected);
        }
        // Both answers occur often enough for the comparison to mean something.
        assert!(found > 5_000 && found < 45_000, "{found} of 50000 found");
        for (h, n) in [
            ("", ""),
            ("", "a"),
            ("a", ""),
            ("é", "\u{e9}"),
            ("aé", "\u{a9}"),
        ] {
            assert_eq!(contains_str(h, n), h.contains(n), "{h:?} contains {n:?}");
        }
    }
}
