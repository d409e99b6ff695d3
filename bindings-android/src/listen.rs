//! Flag-update listeners: each app listener is registered with the core on its own, so it hears
//! the changes put in use after it was added (the core's rule), and each change is handed to the
//! Java agent (`RumAgent.flagsUpdated`), which runs the listener on its own thread.

use agent_core::FlagsUpdate;
use jni::JNIEnv;
use jni::JavaVM;
use jni::objects::{GlobalRef, JClass, JObject, JValue};
use jni::sys::{JNI_FALSE, JNI_TRUE, jboolean, jlong};

use crate::convert::string_array;
use crate::error::BindingError;
use crate::guard::guard;
use crate::handle;

/// Registers an app listener with the agent behind `handle`: each later update calls
/// `target.flagsUpdated(registration, version, flags)` (`target` is its `RumAgent`, the
/// `registration` its record of the listener). Returns the id
/// `removeFlagsListener` takes; 0 with a Java exception pending on failure.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_addFlagsListener<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    target: JObject<'l>,
    registration: JObject<'l>,
) -> jlong {
    guard(&mut env, 0, |env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        let vm = env.get_java_vm()?;
        // Global references: the update comes on the core's sync thread. Calling a method of
        // the object needs no FindClass of an app class, which fails on Android's native
        // threads (they see only the system class loader).
        let target = env.new_global_ref(target)?;
        let registration = env.new_global_ref(registration)?;
        let id = agent.on_flags_update(move |update| deliver(&vm, &target, &registration, update));
        Ok(i64::try_from(id).unwrap_or(i64::MAX))
    })
}

/// Removes the listener `id` from the agent behind `handle`; false when there was none.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_removeFlagsListener<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    id: jlong,
) -> jboolean {
    guard(&mut env, JNI_FALSE, |_env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        let removed = u64::try_from(id).is_ok_and(|id| agent.remove_flags_listener(id));
        Ok(if removed { JNI_TRUE } else { JNI_FALSE })
    })
}

/// Calls `target.flagsUpdated(registration, version, flags)` from the core's thread, attached to the
/// JVM as a daemon (detached when it ends). A Java exception (e.g. the method stripped by a
/// shrinker without the AAR's consumer rules) is printed to the log and cleared: the sync thread
/// goes on.
fn deliver(vm: &JavaVM, target: &GlobalRef, registration: &GlobalRef, update: &FlagsUpdate) {
    let Ok(mut env) = vm.attach_current_thread_as_daemon() else {
        return;
    };
    // In a local frame: this thread stays attached, and local references made on it are
    // otherwise never freed.
    let _ = env.with_local_frame(4, |env| -> Result<(), BindingError> {
        let keys: Vec<Option<&str>> = update.flags.iter().map(|f| Some(f.as_str())).collect();
        let flags = string_array(env, &keys)?;
        let version = i64::try_from(update.version).unwrap_or(i64::MAX);
        env.call_method(
            target,
            "flagsUpdated",
            "(Ljava/lang/Object;J[Ljava/lang/String;)V",
            &[
                JValue::Object(registration.as_obj()),
                JValue::Long(version),
                JValue::Object(&flags),
            ],
        )?;
        Ok(())
    });
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_describe();
        let _ = env.exception_clear();
    }
}
