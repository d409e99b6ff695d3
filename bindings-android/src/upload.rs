//! JNI entries of the pull-upload path: Java's `HttpUploader` thread asks the core what to send,
//! POSTs it with `HttpURLConnection` and reports the answer; every retry, backoff, drop and spool
//! decision stays in agent-core, exactly as with the Rust uploader.

use agent_core::upload::{UploadResult, UploadTask};
use jni::JNIEnv;
use jni::objects::{JClass, JObjectArray, JString};
use jni::sys::{JNI_FALSE, JNI_TRUE, jboolean, jint, jlong};

use crate::convert::{millis, optional, required, string_array};
use crate::error::BindingError;
use crate::guard::guard;
use crate::handle;

/// `nextUpload`'s answer when the agent is shut down and nothing is left: stop the thread.
pub const UPLOAD_DONE: jlong = -1;
/// `nextUpload`'s answer when `out` was filled with a request to send.
pub const UPLOAD_READY: jlong = 0;
/// Slots `nextUpload` fills: id, path, headers (name, value, name, value…), body.
pub const UPLOAD_SLOTS: i32 = 4;

/// The next upload: fills `out` with `{id, path, String[] headers, byte[] body}` and answers
/// [`UPLOAD_READY`]; or answers the milliseconds to wait (> 0), or [`UPLOAD_DONE`].
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_nextUpload<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    out: JObjectArray<'l>,
) -> jlong {
    guard(&mut env, UPLOAD_DONE, |env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        if out.is_null() || env.get_array_length(&out)? < UPLOAD_SLOTS {
            return Err(BindingError::invalid("out", "must hold 4 slots"));
        }
        match agent.next_upload() {
            UploadTask::Upload(request) => {
                let handed = hand_over(env, &out, &request);
                if handed.is_err() {
                    // It never reached the uploader (a JNI allocation failed): a failed upload,
                    // tried again after the backoff, not held in flight until its lease ends.
                    agent.upload_result(request.id, agent_core::upload::UploadResult::NetworkError);
                }
                handed.map(|()| UPLOAD_READY)
            }
            UploadTask::Wait { ms } => Ok(i64::try_from(ms.max(1)).unwrap_or(i64::MAX)),
            UploadTask::Done => Ok(UPLOAD_DONE),
        }
    })
}

/// Fills `out` with `{id, path, String[] headers, byte[] body}` of `request`.
fn hand_over(
    env: &mut JNIEnv<'_>,
    out: &JObjectArray<'_>,
    request: &agent_core::upload::UploadRequest,
) -> Result<(), BindingError> {
    let id = env.new_string(request.id.to_string())?;
    env.set_object_array_element(out, 0, &id)?;
    let path = env.new_string(&request.path)?;
    env.set_object_array_element(out, 1, &path)?;
    let pairs: Vec<Option<&str>> = request
        .headers
        .iter()
        .flat_map(|(name, value)| [Some(name.as_str()), Some(value.as_str())])
        .collect();
    let headers = string_array(env, &pairs)?;
    env.set_object_array_element(out, 2, &headers)?;
    let body = env.byte_array_from_slice(&request.body)?;
    env.set_object_array_element(out, 3, &body)?;
    Ok(())
}

/// Reports an upload's outcome: `status` is the HTTP status, or 0 or less for no answer
/// (connection refused, timeout…; a status outside 100-599 counts as none); `retry_after` is
/// the raw `Retry-After` header or null.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_uploadResult<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    id: JString<'l>,
    status: jint,
    retry_after: JString<'l>,
) {
    guard(&mut env, (), |env| {
        // SAFETY: as in nextUpload.
        let agent = unsafe { handle::agent(handle) }?;
        let id = required(env, &id, "id")?;
        let id =
            uuid::Uuid::parse_str(&id).map_err(|e| BindingError::invalid("id", e.to_string()))?;
        let retry_after = optional(env, &retry_after)?;
        agent.upload_result(id, outcome(status, retry_after.as_deref()));
        Ok(())
    })
}

/// What an HTTP status (or its absence) means to the core. A status outside 100-599 (a broken
/// proxy's) says nothing about the batch: retried like no answer, so the upload is still reported
/// and the batch not left in flight until its lease runs out.
pub fn outcome(status: jint, retry_after: Option<&str>) -> UploadResult {
    match u16::try_from(status) {
        Ok(status) if (100..=599).contains(&status) => UploadResult::Http {
            status,
            retry_after: retry_after.and_then(agent_core::transport::parse_retry_after),
        },
        _ => UploadResult::NetworkError,
    }
}

/// Blocks until there may be upload work (a batch was sealed, a flush, shutdown) or
/// `timeout_ms` passes; true when woken.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_waitForUploadWork<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    timeout_ms: jlong,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_| {
        // SAFETY: as in nextUpload.
        let agent = unsafe { handle::agent(handle) }?;
        let woken = agent.wait_for_upload_work(millis(timeout_ms, "timeoutMs")?);
        Ok(if woken { JNI_TRUE } else { JNI_FALSE })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statuses_map_to_the_core_outcomes() {
        assert_eq!(outcome(0, None), UploadResult::NetworkError);
        assert_eq!(outcome(-1, Some("5")), UploadResult::NetworkError);
        assert_eq!(
            outcome(429, Some(" 7 ")),
            UploadResult::Http {
                status: 429,
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        // An HTTP date: the time until then (a date past: no wait).
        assert_eq!(
            outcome(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            UploadResult::Http {
                status: 503,
                retry_after: Some(Duration::ZERO),
            }
        );
        assert_eq!(
            outcome(202, Some("soon")),
            UploadResult::Http {
                status: 202,
                retry_after: None,
            }
        );
        assert_eq!(outcome(70_000, None), UploadResult::NetworkError);
        assert_eq!(outcome(999, Some("5")), UploadResult::NetworkError);
        assert_eq!(outcome(42, None), UploadResult::NetworkError);
    }
}
