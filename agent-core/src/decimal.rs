//! Decimal number text read as `f64`: JSON numbers and the numeric strings numeric matchers accept.
//!
//! Natively it is core's `str::parse::<f64>`. In the browser build it is JavaScript's own
//! `parseFloat` on text first checked against the same grammar: core's float parser and its
//! power-of-five tables are ~17 KB of the browser agent's wasm, while JavaScript engines
//! already round decimal text to the nearest double. Both refuse the same strings and give
//! the nearest double, `±inf` past `f64::MAX`: `tests/core_api.rs` in bindings-wasm holds V8's
//! (Node) to core's bit for bit. Two bounds: ECMAScript lets an engine round imprecisely after
//! 20 significant digits (V8 does not; others are not tested here), and core stops reading an
//! exponent past ~65,536, so texts of hundreds of KB (a million digits against a
//! million-digit exponent) can read differently — the browser's reading is then the exact one.

/// Reads decimal text (`[+-]digits[.digits][e[+-]digits]`, also `1.` and `.5`, as core's
/// `f64::from_str` does, but not `inf`/`nan`) as the nearest `f64`; `±inf` when beyond `f64`.
pub fn parse_f64(text: &str) -> Option<f64> {
    if !is_decimal(text.as_bytes()) {
        return None;
    }
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    let value = Some(js_sys::parse_float(text));
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    let value = text.parse::<f64>().ok();
    value
}

/// Whether `text` is a decimal float literal of core's `f64::from_str` grammar, without its
/// `inf`/`infinity`/`nan` words: `Sign? (Digit+ | Digit+ '.' Digit* | Digit* '.' Digit+) Exp?`,
/// `Exp ::= [eE] Sign? Digit+`. JavaScript's `parseFloat` reads every such text whole (and
/// also reads prefixes and words this refuses), so the check is what makes the two agree.
pub fn is_decimal(text: &[u8]) -> bool {
    let digits = |from: usize| {
        text.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let mut pos = usize::from(matches!(text.first(), Some(b'+' | b'-')));
    let whole = digits(pos);
    pos += whole;
    let mut fraction = 0;
    if text.get(pos) == Some(&b'.') {
        pos += 1;
        fraction = digits(pos);
        pos += fraction;
    }
    if whole + fraction == 0 {
        return false;
    }
    if matches!(text.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        pos += usize::from(matches!(text.get(pos), Some(b'+' | b'-')));
        let exponent = digits(pos);
        if exponent == 0 {
            return false;
        }
        pos += exponent;
    }
    pos == text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Core's verdict on `text`, without its infinity and NaN words (which `parse_f64` refuses).
    fn core_reads(text: &str) -> Option<f64> {
        let lower = text.to_ascii_lowercase();
        let word = lower.trim_start_matches(['+', '-']);
        if matches!(word, "inf" | "infinity" | "nan") {
            return None;
        }
        text.parse::<f64>().ok()
    }

    #[test]
    fn the_grammar_is_cores_without_its_words() {
        let cases = [
            "0",
            "-0",
            "+1",
            "1.",
            ".5",
            "-.5",
            "+.5e3",
            "1e5",
            "1E+5",
            "1e-5",
            "00.00",
            "1.e2",
            ".e1",
            "e1",
            "1e",
            "1e+",
            "+",
            "-",
            ".",
            "",
            " 1",
            "1 ",
            "1..2",
            "1.2.3",
            "0x10",
            "1_000",
            "inf",
            "-Infinity",
            "NaN",
            "1e400",
            "-1e400",
            "4.9e-324",
            "2e-324",
            "١",
            "1e5e5",
            "--1",
            "+-1",
            "1.5e0x",
        ];
        for case in cases {
            assert_eq!(
                parse_f64(case).map(f64::to_bits),
                core_reads(case).map(f64::to_bits),
                "{case:?}"
            );
        }
    }

    #[test]
    fn random_texts_over_the_grammars_alphabet_agree_with_core() {
        // A fixed xorshift stream: the same texts every run.
        let mut rng = crate::test_rng::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = move || rng.next_u64();
        let alphabet = b"0123456789.eE+-9";
        let mut accepted = 0;
        for _ in 0..50_000 {
            let len = (next() % 9) as usize;
            let text: String = (0..len)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            let ours = parse_f64(&text);
            accepted += usize::from(ours.is_some());
            assert_eq!(
                ours.map(f64::to_bits),
                core_reads(&text).map(f64::to_bits),
                "{text:?}"
            );
        }
        // The stream must exercise both verdicts, or the test proves nothing.
        assert!(accepted > 1_000, "{accepted} accepted");
    }
}
