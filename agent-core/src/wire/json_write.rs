//! A small JSON text writer, for the browser: what `serde_json::to_vec` writes, byte for byte,
//! without serde's `Serializer` machinery and the derived `Serialize` impls in the wasm.
//!
//! Same text as serde_json's compact writer: integers in decimal (core's `Display`, the digits of
//! serde_json's `itoa`), floats by [`crate::decimal::write_f64`] (serde_json's text: the
//! shortest round-trip digits), non-finite floats as `null`, strings
//! with `"`, `\` and control characters escaped (`\n`-style where JSON has one, else `\u00xx`),
//! everything else (`/`, DEL, non-ASCII) as it is; object keys in the map's order. The wire
//! types' field order and skipped fields are in `json_wire.rs`; the differential tests
//! (`json_write_tests.rs`) compare both with serde_json.

use serde_json::{Map, Number, Value};

/// A value that can write itself as JSON text.
pub trait ToJson {
    /// Appends the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

/// The JSON text of `value`.
pub fn to_json<T: ToJson + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.write_json(&mut out);
    out
}

/// An object being written: `{`, `"name":value` pairs with commas between, then `}`.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object in `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// Writes one member (`dyn`: one copy of this code for every field type).
    pub fn field(&mut self, name: &str, value: &dyn ToJson) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, name);
        self.out.push(b':');
        value.write_json(self.out);
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `s` as a JSON string, escaped as serde_json escapes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        let escape = match b {
            b'"' | b'\\' => b,
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0..=0x1f => b'u',
            _ => {
                out.push(b);
                continue;
            }
        };
        out.extend_from_slice(&[b'\\', escape]);
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
    out.push(b'"');
}

/// The text of a finite float as JSON writes it (`65.0`, `1e-7`); empty when not finite.
pub fn float_text(x: f64) -> String {
    let mut out = Vec::new();
    crate::decimal::write_f64(x, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

impl ToJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        if self.is_finite() {
            crate::decimal::write_f64(*self, out);
        } else {
            out.extend_from_slice(b"null");
        }
    }
}

// Integers by core's `Display` (the same digits as serde_json's `itoa`): the wasm holds it anyway.
impl ToJson for u64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
    }
}

impl ToJson for i64 {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
    }
}

impl ToJson for u32 {
    fn write_json(&self, out: &mut Vec<u8>) {
        u64::from(*self).write_json(out);
    }
}

impl ToJson for i32 {
    fn write_json(&self, out: &mut Vec<u8>) {
        i64::from(*self).write_json(out);
    }
}

impl ToJson for bool {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl ToJson for str {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write_json(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.push(b']');
    }
}

impl ToJson for Map<String, Value> {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut object = ObjectWriter::new(out);
        for (k, v) in self {
            object.field(k, v);
        }
        object.end();
    }
}

impl ToJson for Number {
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(n) = self.as_u64() {
            n.write_json(out);
        } else if let Some(n) = self.as_i64() {
            n.write_json(out);
        } else {
            self.as_f64().unwrap_or(f64::NAN).write_json(out);
        }
    }
}

impl ToJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => b.write_json(out),
            Value::Number(n) => n.write_json(out),
            Value::String(s) => write_str(out, s),
            Value::Array(items) => items.write_json(out),
            Value::Object(map) => map.write_json(out),
        }
    }
}
