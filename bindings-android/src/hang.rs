//! The core's hang watchdog (`agent_core::hang`) on Android's main thread: the Java
//! `HangWatchdog` posts each tick to the main looper and reads the main thread's stack, called
//! from the watchdog's thread over JNI.

use std::sync::Arc;

use agent_core::hang::MainThread;
use jni::objects::{GlobalRef, JClass, JObject, JString};
use jni::sys::jlong;
use jni::{JNIEnv, JavaVM};

use crate::convert::millis;
use crate::error::BindingError;
use crate::guard::guard;
use crate::handle;

/// Starts the core's hang watchdog for the agent behind `handle` on `main` (a
/// `HangWatchdog`), `threshold_ms` the threshold; a Java exception on failure.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_watchHangs<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    main: JObject<'l>,
    threshold_ms: jlong,
) {
    guard(&mut env, (), |env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        let threshold = millis(threshold_ms, "hangThresholdMs")?;
        // A global reference, called by method: the watchdog's thread is a native one, which
        // sees only the system class loader (no FindClass of an app class there).
        let main = JavaMainThread {
            vm: env.get_java_vm()?,
            target: env.new_global_ref(main)?,
        };
        agent.watch_hangs(Arc::new(main), threshold)?;
        Ok(())
    })
}

/// The main thread answered hang tick `tick` (see `HangWatchdog.post`).
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_answerHangTick<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    tick: jlong,
) {
    guard(&mut env, (), |_env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        agent.answer_hang_tick(u64::try_from(tick).unwrap_or(0));
        Ok(())
    })
}

/// The Java `HangWatchdog`, called from the core's watchdog thread (attached as a daemon).
struct JavaMainThread {
    vm: JavaVM,
    target: GlobalRef,
}

impl JavaMainThread {
    /// Runs `call` on this thread attached to the JVM, in a local frame (the thread stays
    /// attached: its local references would otherwise never be freed); a Java exception is
    /// logged and cleared, the watchdog goes on without the answer.
    fn with_env<T>(
        &self,
        call: impl FnOnce(&mut JNIEnv, &JObject) -> Result<T, BindingError>,
    ) -> Option<T> {
        let mut env = self.vm.attach_current_thread_as_daemon().ok()?;
        let answer = env.with_local_frame(4, |env| call(env, self.target.as_obj()));
        if env.exception_check().unwrap_or(false) {
            let _ = env.exception_describe();
            let _ = env.exception_clear();
        }
        answer.ok()
    }
}

impl MainThread for JavaMainThread {
    fn post(&self, tick: u64) {
        let tick = i64::try_from(tick).unwrap_or(i64::MAX);
        self.with_env(|env, target| {
            env.call_method(target, "post", "(J)V", &[tick.into()])?;
            Ok(())
        });
    }

    fn stack(&self) -> Option<String> {
        self.with_env(|env, target| {
            let frames = env
                .call_method(target, "mainFrames", "()Ljava/lang/String;", &[])?
                .l()?;
            if frames.is_null() {
                return Ok(None);
            }
            let frames: String = env.get_string(&JString::from(frames))?.into();
            Ok(Some(frames))
        })
        .flatten()
    }

    fn debugger_attached(&self) -> bool {
        self.with_env(|env, target| {
            Ok(env
                .call_method(target, "debuggerAttached", "()Z", &[])?
                .z()?)
        })
        .unwrap_or(false)
    }
}
