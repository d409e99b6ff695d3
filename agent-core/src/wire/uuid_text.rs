//! A UUID to and from its text, for the browser's paths (ids in batches, stored batch ids,
//! upload results): not uuid's own `Display` and parsers, which are larger.

use uuid::Uuid;

/// Parses any form `Uuid::parse_str` accepts (simple, hyphenated, braced, URN; hex digits in
/// either case) into the same `Uuid`. Not `parse_str`: its detailed error slices the input, and
/// core's slicing panic keeps `char` `Debug` and core's Unicode tables in the browser's wasm;
/// not `Uuid::try_parse` either: its lookup tables and per-form decoders are larger than this.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    let hyphenated = match (bytes.len(), bytes) {
        (32, simple) => return from_hex(simple.iter().copied()),
        (36, plain) => plain,
        (38, [b'{', inner @ .., b'}']) => inner,
        (45, urn) if urn.get(..9)?.eq_ignore_ascii_case(b"urn:uuid:") => urn.get(9..)?,
        _ => return None,
    };
    let is_hyphen_place = |i: usize| matches!(i, 8 | 13 | 18 | 23);
    let mut digits = Vec::with_capacity(32);
    for (i, &b) in hyphenated.iter().enumerate() {
        match (is_hyphen_place(i), b) {
            (true, b'-') => {}
            (true, _) => return None,
            (false, digit) => digits.push(digit),
        }
    }
    from_hex(digits.into_iter())
}

/// The hyphenated lower-case text of `id` (`67e55044-10b1-426f-9247-bb680e5fe0c8`), the same
/// as its `Display`, which would bring uuid's formatter and core's padding code into the wasm.
pub fn uuid_text(id: Uuid) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, &byte) in id.as_bytes().iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 15)]));
    }
    out
}

/// Exactly 32 hex digits, most significant first.
fn from_hex(digits: impl Iterator<Item = u8>) -> Option<Uuid> {
    let mut value = 0u128;
    let mut count = 0;
    for d in digits {
        value = value << 4 | u128::from(char::from(d).to_digit(16)?);
        count += 1;
    }
    (count == 32).then_some(Uuid::from_u128(value))
}

#[cfg(test)]
mod tests {
    use super::{parse_uuid, uuid_text};
    use uuid::Uuid;

    #[test]
    fn uuid_text_is_the_hyphenated_display() {
        let mut rng = crate::test_rng::XorShift(0x3c6e_f372_fe94_f82b);
        let mut ids = vec![
            Uuid::nil(),
            Uuid::max(),
            Uuid::from_u128(0x0123_4567_89ab_cdef),
        ];
        ids.extend((0..10_000).map(|_| {
            Uuid::from_u128((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
        }));
        for id in ids {
            assert_eq!(uuid_text(id), id.to_string());
            assert_eq!(parse_uuid(&uuid_text(id)), Some(id));
        }
    }

    /// Every form, and each one damaged in every place: same answer as `Uuid::parse_str`.
    #[test]
    fn parse_uuid_answers_as_parse_str() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let forms = [
            id.hyphenated().to_string(),
            id.hyphenated().to_string().to_uppercase(),
            id.simple().to_string(),
            id.braced().to_string(),
            id.urn().to_string(),
            id.urn().to_string().to_uppercase(),
        ];
        let mut inputs: Vec<String> = vec![
            String::new(),
            "-".repeat(36),
            "0".repeat(31),
            "0".repeat(33),
            "{".to_owned() + &"0".repeat(36) + "}",
            "urn:uuid:0123456789abcdef0123456789abcdef0123".to_owned(),
            "0123456789abcdef0123456789abcdeé".to_owned(),
            "01234567-89ab-cdef-fedc-ba987654321é".to_owned(),
        ];
        for form in &forms {
            inputs.push(form.clone());
            inputs.push(format!(" {form}"));
            inputs.push(format!("{form}0"));
            inputs.push(form[1..].to_owned());
            for i in 0..form.len() {
                for c in ['g', '-', '0', 'F', '{', '}', ':', 'é'] {
                    let mut damaged = form.clone();
                    damaged.replace_range(i..=i, c.encode_utf8(&mut [0; 4]));
                    inputs.push(damaged);
                }
            }
        }
        // Random text of the four lengths over the characters the forms use (and a few more).
        let alphabet: Vec<char> = "0123456789abcdefABCDEF-{}:urnidURNIDgé".chars().collect();
        let mut rng = crate::test_rng::XorShift(0x2545_f491_4f6c_dd1d);
        for i in 0..20_000 {
            let len = [32, 36, 38, 45][i % 4];
            let template = &forms[[2, 0, 3, 4][i % 4]];
            let mut text = String::new();
            for c in template.chars().take(len) {
                let state = rng.next_u64();
                // Mostly the form's own character, so that some inputs stay valid.
                if state.is_multiple_of(16) {
                    text.push(alphabet[(state >> 8) as usize % alphabet.len()]);
                } else {
                    text.push(c);
                }
            }
            inputs.push(text);
        }
        let mut accepted = 0;
        for input in &inputs {
            let expected = Uuid::parse_str(input).ok();
            assert_eq!(parse_uuid(input), expected, "{input:?}");
            accepted += usize::from(expected.is_some());
        }
        assert!(accepted > 1_000, "{accepted} accepted");
        assert!(accepted < inputs.len() - 1_000, "{accepted} accepted");
        for form in &forms {
            assert_eq!(parse_uuid(form), Some(id), "{form}");
        }
    }
}
