//! A UUID from its text, for the browser's paths (stored batch ids, upload results).

use uuid::Uuid;

/// Parses any form `Uuid::parse_str` accepts (hyphenated, simple, braced, URN), by the same
/// parser (`Uuid::try_parse`), but without `parse_str`'s detailed error: building that message
/// slices the input, and core's slicing panic keeps `char` `Debug` and core's Unicode tables
/// (8.5 KB) in the browser's wasm.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::try_parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_uuid;
    use uuid::Uuid;

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
        let mut accepted = 0;
        for input in &inputs {
            let expected = Uuid::parse_str(input).ok();
            assert_eq!(parse_uuid(input), expected, "{input:?}");
            accepted += usize::from(expected.is_some());
        }
        assert!(accepted > forms.len(), "{accepted} accepted");
        for form in &forms {
            assert_eq!(parse_uuid(form), Some(id), "{form}");
        }
    }
}
