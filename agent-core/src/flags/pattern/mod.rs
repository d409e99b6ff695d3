//! The regular expression of a `regex` matcher: one small engine on every platform.
//!
//! The syntax is Rust `regex`'s. The engine is our own Pike VM, not a dependency, because it
//! must be the same on every platform (a flag gives one treatment everywhere) and small in the
//! browser: Rust's `regex` with its Unicode tables adds about 400 KB gzipped to the browser
//! agent, `regex-lite` 27.6 KB, this engine 8.2 KB (BENCHMARKS.md). The browser's own `RegExp`
//! backtracks: in Node 20, `(a|a)*b` takes 0.6 s on 26 characters (exponential in them),
//! and a deeply nested pattern throws a stack overflow through the wasm. This one is linear:
//! at most (states × characters) steps, no recursion while matching, and never more than
//! 5,000,000 steps: a search that would need more counts as no match, alike on every platform.
//! The collector checks patterns with this same code, so it accepts exactly what the agents
//! evaluate.
//!
//! Supported: literals and escapes (`\.`, `\n`, `\x41`, `\x{1F600}`, `\u{…}`), `.`, classes
//! `[a-z]`, `[^…]`, `[[:alpha:]]`, `\d \w \s` and their negations, anchors `^ $ \A \z`, word
//! boundaries `\b \B \< \>` and `\b{start}`, `\b{end}`, `\b{start-half}`, `\b{end-half}`,
//! groups `(…)`, `(?:…)`, `(?P<name>…)`, `(?<name>…)`, alternation, repetitions
//! `* + ? {n} {n,} {n,m}` (lazy or not), and the flags `i m s x U` as `(?flags)` or
//! `(?flags:…)`. Class items, `(?x)` spacing and escapes are read exactly as `regex` reads
//! them (checked on random token soups, `tests.rs`).
//!
//! Like `regex-lite`, it is ASCII where `regex` uses Unicode tables: `\d`, `\w`, `\s`, `\b`
//! and POSIX classes are ASCII, and `(?i)` folds ASCII letters only. It refuses, with an error
//! naming the construct and its position: `\p{…}` classes, nested classes and class set
//! operations (`&&`, `--`, `~~`), look-around and back-references (as `regex` does), the `u`
//! and `R` flags, counts above 1000, groups nested over 32 deep, more than 3 repetition
//! operators in a row, and programs over 20,000 states. Its ASCII classes being small, it
//! accepts a few patterns that `regex` refuses as over its 10 MB compiled size with Unicode
//! classes (`\w{250}`, `.{1000}{13}`).

mod parse;
mod program;
mod vm;

#[cfg(test)]
mod tests;

use super::FlagError;

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    program: program::Program,
}

impl Pattern {
    /// Compiles `pattern`, or says what is wrong with it and where.
    pub(crate) fn new(pattern: &str) -> Result<Pattern, String> {
        let program = program::Program::new(parse::parse(pattern)?)?;
        Ok(Pattern { program })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.search(text).0
    }

    /// Whether the pattern matches, and the steps the search took. Each search allocates its
    /// few state lists: reusing them saved 10% natively and cost 0.5 KB in the browser's wasm.
    fn search(&self, text: &str) -> (bool, u64) {
        vm::search(&self.program, text)
    }
}

/// Compiles `pattern`, naming `field` when it is invalid.
pub(crate) fn compile(pattern: &str, field: String) -> Result<Pattern, FlagError> {
    Pattern::new(pattern).map_err(|message| FlagError::Invalid { field, message })
}
