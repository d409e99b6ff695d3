//! The regular expression of a `regex` matcher.
//!
//! Natively it is Rust's `regex` (linear time, size-limited). On wasm32 it is the host's own
//! JavaScript `RegExp` in Unicode mode: Rust's regex with its Unicode tables is most of a
//! browser agent's download (about 400 KB gzipped of 470), while every browser already ships
//! an engine. The common syntax (classes, anchors, `\p{L}`, repetitions, groups) means the
//! same in both; leading inline flags `(?i)`, `(?s)`, `(?m)` are turned into `RegExp` flags.
//! A pattern the browser's engine refuses is invalid there, like any invalid definition.

use super::FlagError;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
mod imp {
    use regex::{Regex, RegexBuilder};

    /// Largest compiled size of one regex: bounds the memory a hostile pattern can take.
    const REGEX_SIZE_LIMIT: usize = 1 << 20;

    /// A compiled pattern.
    #[derive(Debug)]
    pub(crate) struct Pattern(Regex);

    impl Pattern {
        pub(crate) fn new(pattern: &str) -> Result<Pattern, String> {
            RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Pattern)
                .map_err(|e| e.to_string())
        }

        pub(crate) fn is_match(&self, s: &str) -> bool {
            self.0.is_match(s)
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod imp {
    use wasm_bindgen::prelude::{JsValue, wasm_bindgen};

    #[wasm_bindgen]
    extern "C" {
        /// A JavaScript `RegExp`.
        #[wasm_bindgen(js_name = RegExp)]
        #[derive(Debug)]
        type JsRegExp;

        /// `new RegExp(pattern, flags)`, its `SyntaxError` caught: a bad pattern is an `Err`
        /// (js-sys's `RegExp::new` lets it propagate, and checking first with `new Function`
        /// fails on every page whose content security policy forbids `eval`).
        #[wasm_bindgen(constructor, js_class = "RegExp", catch)]
        fn new(pattern: &str, flags: &str) -> Result<JsRegExp, JsValue>;

        /// `regexp.test(text)`.
        #[wasm_bindgen(method)]
        fn test(this: &JsRegExp, text: &str) -> bool;
    }

    /// A compiled pattern: a JS `RegExp`.
    #[derive(Debug)]
    pub(crate) struct Pattern(JsRegExp);

    // wasm32-unknown-unknown without the `atomics` feature runs one thread: a JS object never
    // crosses threads, which is what the flag set's `Send + Sync` bound is about.
    #[cfg(not(target_feature = "atomics"))]
    unsafe impl Send for Pattern {}
    #[cfg(not(target_feature = "atomics"))]
    unsafe impl Sync for Pattern {}

    impl Pattern {
        pub(crate) fn new(pattern: &str) -> Result<Pattern, String> {
            let (flags, body) = leading_flags(pattern);
            JsRegExp::new(body, &flags).map(Pattern).map_err(|_| {
                format!(
                    "the browser's RegExp refuses {}",
                    super::super::quoted(pattern)
                )
            })
        }

        pub(crate) fn is_match(&self, s: &str) -> bool {
            self.0.test(s)
        }
    }

    /// Splits Rust's leading inline flags (`(?i)`, `(?ims)`) off into `RegExp` flags.
    fn leading_flags(pattern: &str) -> (String, &str) {
        let mut flags = String::from("u");
        let mut rest = pattern;
        while let Some(group) = rest.strip_prefix("(?") {
            // `split_once` and byte tests: slicing a `str` and `str::contains` carry core's
            // panic message for a bad char boundary (and with it `char` `Debug`'s tables).
            let Some((inline, after)) = group.split_once(')') else {
                break;
            };
            if inline.is_empty() || !inline.bytes().all(|b| matches!(b, b'i' | b'm' | b's')) {
                break;
            }
            for b in inline.bytes() {
                if !flags.as_bytes().contains(&b) {
                    flags.push(char::from(b));
                }
            }
            rest = after;
        }
        (flags, rest)
    }
}

pub(crate) use imp::Pattern;

/// Compiles `pattern`, naming `field` when it is invalid.
pub(crate) fn compile(pattern: &str, field: String) -> Result<Pattern, FlagError> {
    Pattern::new(pattern).map_err(|message| FlagError::Invalid { field, message })
}
