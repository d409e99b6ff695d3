//! JNI entries of app-start timings: from the app's start (see `Native.setup`'s start age), and
//! the cold and warm starts Java's `AppStarts` sees.

use jni::JNIEnv;
use jni::objects::{JClass, JString};
use jni::sys::{JNI_FALSE, jboolean, jdouble, jlong};

use crate::convert::{millis_f64, required};
use crate::guard::guard;
use crate::handle;

/// Tracks `timing.<marker>`: the time since the app's start.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_trackTimeFromStart<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    marker: JString<'l>,
) {
    guard(&mut env, (), |env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        let marker = required(env, &marker, "marker")?;
        agent.track_time_from_start(&marker);
        Ok(())
    })
}

/// Tracks `timing.app.start.cold` from the app's start; false when it was too long to be a
/// launch (see `Agent::track_cold_start`).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_trackColdStart<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_| {
        // SAFETY: as in trackTimeFromStart.
        let agent = unsafe { handle::agent(handle) }?;
        Ok(jboolean::from(agent.track_cold_start()))
    })
}

/// Tracks `timing.app.start.warm` with its duration in milliseconds.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_trackWarmStart<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    millis: jdouble,
) {
    guard(&mut env, (), |_| {
        // SAFETY: as in trackTimeFromStart.
        let agent = unsafe { handle::agent(handle) }?;
        agent.track_warm_start(millis_f64(millis, "millis")?);
        Ok(())
    })
}
