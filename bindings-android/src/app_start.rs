//! JNI entries of app-start timings: from the app's start (see `Native.setup`'s start age), and
//! the cold and warm starts Java's `AppStarts` sees.

use agent_core::AppStartKind;
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

/// Tracks `timing.app.start.cold` (`cold`) or `.warm`: `millis` measured by Java, or negative
/// to measure from the app's start; false when not tracked (see `Agent::track_app_start`).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_trackAppStart<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    cold: jboolean,
    millis: jdouble,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_| {
        // SAFETY: as in trackTimeFromStart.
        let agent = unsafe { handle::agent(handle) }?;
        let kind = if cold == JNI_FALSE {
            AppStartKind::Warm
        } else {
            AppStartKind::Cold
        };
        let duration = if millis < 0.0 {
            None
        } else {
            Some(millis_f64(millis, "millis")?)
        };
        Ok(jboolean::from(agent.track_app_start(kind, duration)))
    })
}
