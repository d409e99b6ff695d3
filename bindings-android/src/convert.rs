//! Conversions between Java and Rust: strings, JSON maps (Java serialises attributes and
//! properties to JSON, one string per call instead of one JNI call per entry), timeouts, and
//! string arrays handed back to Java.

use std::time::Duration;

use jni::JNIEnv;
use jni::objects::{JObject, JObjectArray, JString};
use jni::sys::jlong;
use serde_json::{Map, Value};

use crate::error::BindingError;

/// A string that must not be null.
pub fn required(
    env: &mut JNIEnv<'_>,
    s: &JString<'_>,
    field: &'static str,
) -> Result<String, BindingError> {
    optional(env, s)?.ok_or_else(|| BindingError::invalid(field, "must not be null"))
}

/// A string that may be null.
///
/// Read as UTF-16, not through JNI's modified UTF-8: a Java string holding an unpaired
/// surrogate (one cut in the middle of an emoji) then loses only that surrogate (U+FFFD),
/// where the modified-UTF-8 path turned every character outside the BMP of the string into
/// U+FFFD as well — a different user key, a different bucket.
pub fn optional(env: &mut JNIEnv<'_>, s: &JString<'_>) -> Result<Option<String>, BindingError> {
    if s.is_null() {
        return Ok(None);
    }
    let raw = env.get_raw();
    // SAFETY: `raw` is this thread's live JNIEnv and `s` a live, non-null local reference to a
    // java.lang.String; the region read is exactly the string's length, into a buffer of that
    // length, and any exception it raises is checked before the buffer is used.
    let units = unsafe {
        let interface = &**raw;
        let (Some(length), Some(region)) = (interface.GetStringLength, interface.GetStringRegion)
        else {
            return Err(BindingError::Jni(jni::errors::Error::JNIEnvMethodNotFound(
                "GetStringRegion",
            )));
        };
        let len = length(raw, s.as_raw());
        let mut units = vec![0u16; usize::try_from(len).unwrap_or(0)];
        region(raw, s.as_raw(), 0, len, units.as_mut_ptr());
        units
    };
    if env.exception_check()? {
        return Err(BindingError::Jni(jni::errors::Error::JavaException));
    }
    Ok(Some(String::from_utf16_lossy(&units)))
}

/// A JSON object (null or empty means none).
pub fn json_object(
    env: &mut JNIEnv<'_>,
    s: &JString<'_>,
    field: &'static str,
) -> Result<Map<String, Value>, BindingError> {
    let Some(text) = optional(env, s)?.filter(|t| !t.is_empty()) else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BindingError::invalid(field, "must be a JSON object")),
        Err(e) => Err(BindingError::invalid(field, e.to_string())),
    }
}

/// Any JSON value (null means JSON null).
pub fn json_value(
    env: &mut JNIEnv<'_>,
    s: &JString<'_>,
    field: &'static str,
) -> Result<Value, BindingError> {
    match optional(env, s)? {
        None => Ok(Value::Null),
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| BindingError::invalid(field, e.to_string()))
        }
    }
}

/// A non-negative duration in milliseconds.
pub fn millis(ms: jlong, field: &'static str) -> Result<Duration, BindingError> {
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| BindingError::invalid(field, "must not be negative"))
}

/// A finite, non-negative duration in (fractional) milliseconds.
pub fn millis_f64(ms: f64, field: &'static str) -> Result<Duration, BindingError> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(BindingError::invalid(
            field,
            "must be finite and not negative",
        ));
    }
    Duration::try_from_secs_f64(ms / 1000.0)
        .map_err(|e| BindingError::invalid(field, e.to_string()))
}

/// A Java `String[]` of `items` (`None`: a null element), each element's local reference freed
/// as soon as it is stored.
pub fn string_array<'l>(
    env: &mut JNIEnv<'l>,
    items: &[Option<&str>],
) -> Result<JObjectArray<'l>, BindingError> {
    let size = i32::try_from(items.len())
        .map_err(|_| BindingError::invalid("array", "too many elements"))?;
    let array = env.new_object_array(size, "java/lang/String", JObject::null())?;
    for (i, item) in (0..).zip(items) {
        if let Some(text) = item {
            let s = env.new_string(text)?;
            env.set_object_array_element(&array, i, &s)?;
            env.delete_local_ref(s)?;
        }
    }
    Ok(array)
}
