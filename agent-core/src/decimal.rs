//! Decimal number text and `f64`, both ways: JSON numbers and the numeric strings numeric
//! matchers accept are read by [`parse_f64`]; floats are written as JSON by [`write_f64`].
//!
//! Writing: natively `zmij`, the shortest round-trip digits serde_json itself writes. In the
//! browser build the digits are JavaScript's (`Number.prototype.toString`: also the shortest that
//! read back to the same double, the closest of them when there are several) laid out here as
//! zmij lays them out, so the same text; zmij's code and its 128-bit power tables stay out of the
//! wasm. `tests/core_api.rs` in bindings-wasm holds the browser's text to serde_json's.
//!
//! Reading:
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
    let value = Some(js::parse_float(text));
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

/// Appends the JSON text of a finite `x` as serde_json writes it: the shortest digits that read
/// back to `x`, `1.5`, `65.0`, `0.0001`, `1e-7`, `1.2345e+16` (plain notation for decimal
/// exponents -5 to 15, `.0` on whole numbers), `-0.0` for negative zero. Non-finite `x` writes
/// nothing (JSON has no text for it; callers write `null`).
pub fn write_f64(x: f64, out: &mut Vec<u8>) {
    if !x.is_finite() {
        return;
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    out.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    write_with_digits(x, js::number_text, out);
}

/// Writes a finite `x` as [`write_f64`] does, taking the shortest digits of `|x|` from
/// `shortest` (any decimal text of them: JavaScript's notation, or zmij's in the tests).
#[cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(dead_code)
)]
fn write_with_digits(x: f64, shortest: impl FnOnce(f64) -> String, out: &mut Vec<u8>) {
    if x.is_sign_negative() {
        out.push(b'-');
    }
    if x == 0.0 {
        out.extend_from_slice(b"0.0");
    } else {
        let (digits, n, exponent) = shortest_digits(shortest(x.abs()).as_bytes());
        lay_out(&digits[..n], exponent, out);
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod js {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        /// JavaScript's `String(x)`: a number's shortest round-trip text.
        #[wasm_bindgen(js_name = String)]
        pub fn number_text(x: f64) -> String;

        /// JavaScript's `parseFloat(text)`.
        #[wasm_bindgen(js_name = parseFloat)]
        pub fn parse_float(text: &str) -> f64;
    }
}

/// The significant digits of a positive decimal text in JavaScript's number notation (`123`,
/// `0.00123`, `1.5e+21`, `5e-324`), how many there are, and the decimal exponent of the first:
/// `0.00123` is (`123`, 3, -3). Leading and trailing zeros are not significant; a double's
/// shortest text has at most 17 digits (more are dropped).
#[cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(dead_code)
)]
fn shortest_digits(text: &[u8]) -> ([u8; 24], usize, i32) {
    let mut digits = [0u8; 24];
    let mut n = 0;
    // Mantissa digits read, where the point was, where the first significant digit was.
    let (mut at, mut point, mut first) = (0i32, None, None);
    let (mut exponent, mut negative, mut in_exponent) = (0i32, false, false);
    for &b in text {
        match (in_exponent, b) {
            (true, b'-') => negative = true,
            (true, b'0'..=b'9') => {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i32::from(b - b'0'));
            }
            (false, b'e' | b'E') => in_exponent = true,
            (false, b'.') => point = Some(at),
            (false, b'0'..=b'9') => {
                if b != b'0' && first.is_none() {
                    first = Some(at);
                }
                if first.is_some() && n < digits.len() {
                    digits[n] = b;
                    n += 1;
                }
                at += 1;
            }
            _ => {}
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let exponent = if negative { -exponent } else { exponent };
    let shift = point.unwrap_or(at) - first.unwrap_or(0) - 1;
    (digits, n, exponent.saturating_add(shift))
}

/// Lays significant `digits` (no leading or trailing zero, at least one) with the decimal
/// `exponent` of the first out as zmij does for a double: plain notation for exponents -5 to
/// 15 (`0.00123`, `12.5`, `1200.0`), else `d.ddde±x`.
#[cfg_attr(
    not(all(target_arch = "wasm32", target_os = "unknown")),
    allow(dead_code)
)]
fn lay_out(digits: &[u8], exponent: i32, out: &mut Vec<u8>) {
    let n = digits.len() as i32;
    if (-5..0).contains(&exponent) {
        out.extend_from_slice(b"0.");
        for _ in 1..-exponent {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else if (0..=15).contains(&exponent) {
        for i in 0..n.max(exponent + 1) {
            if i == exponent + 1 {
                out.push(b'.');
            }
            out.push(digits.get(i as usize).copied().unwrap_or(b'0'));
        }
        if n <= exponent + 1 {
            out.extend_from_slice(b".0");
        }
    } else {
        for (i, &d) in digits.iter().enumerate() {
            out.push(d);
            if i == 0 && n > 1 {
                out.push(b'.');
            }
        }
        out.extend_from_slice(if exponent < 0 { b"e-" } else { b"e+" });
        let e = exponent.unsigned_abs();
        if e >= 100 {
            out.push(b'0' + (e / 100 % 10) as u8);
        }
        if e >= 10 {
            out.push(b'0' + (e / 10 % 10) as u8);
        }
        out.push(b'0' + (e % 10) as u8);
    }
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

    /// What the browser build writes for `x`, with zmij's digits standing in for JavaScript's
    /// (core's `{:e}` differs from both on ties: 1723811126565678.25 is `…678.3` there, `…678.2`
    /// in zmij and ECMAScript, which take the even digit): the layout under test is the same
    /// code. The digits themselves are compared in Node (bindings-wasm `tests/core_api.rs`).
    fn laid_out(x: f64) -> String {
        let mut out = Vec::new();
        write_with_digits(x, written, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn written(x: f64) -> String {
        let mut out = Vec::new();
        write_f64(x, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_are_laid_out_as_zmij_lays_them_out() {
        let mut cases = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1.5,
            65.0,
            1e-5,
            1.2345e-5,
            1e-6,
            1.2345e-6,
            1e15,
            1.2345e15,
            123456789012345.6,
            1e16,
            1.2345e16,
            9007199254740993.0,
            1e21,
            1e100,
            1e-100,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
        ];
        let mut rng = crate::test_rng::XorShift(0x6a09_e667_f3bc_c908);
        for _ in 0..50_000 {
            let x = f64::from_bits(rng.next_u64());
            if x.is_finite() {
                cases.push(x);
            }
        }
        for exponent in -330..=310 {
            cases.push(format!("1.2345e{exponent}").parse().unwrap());
            cases.push(format!("7e{exponent}").parse().unwrap());
        }
        for x in cases.into_iter().filter(|x| x.is_finite()) {
            for x in [x, -x] {
                let zmij = written(x);
                assert_eq!(laid_out(x), zmij, "{x:e}");
                assert_eq!(
                    zmij.parse::<f64>().unwrap().to_bits(),
                    x.to_bits(),
                    "{zmij}"
                );
            }
        }
        assert_eq!(written(f64::NAN), "");
        assert_eq!(written(f64::INFINITY), "");
    }

    #[test]
    fn javascript_number_notation_is_read_into_digits_and_exponent() {
        let cases: [(&str, &str, i32); 9] = [
            ("123", "123", 2),
            ("100", "1", 2),
            ("123.45", "12345", 2),
            ("0.00123", "123", -3),
            ("0.5", "5", -1),
            ("1.5e+21", "15", 21),
            ("1e+21", "1", 21),
            ("5e-324", "5", -324),
            ("1.7976931348623157e+308", "17976931348623157", 308),
        ];
        for (text, digits, exponent) in cases {
            let (d, n, e) = shortest_digits(text.as_bytes());
            assert_eq!(
                (std::str::from_utf8(&d[..n]).unwrap(), e),
                (digits, exponent)
            );
        }
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
