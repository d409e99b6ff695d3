//! Flag-update listeners: each change of the core's flag definitions is handed to the Java
//! agent (`RumAgent.flagsUpdated`), which runs the app's listeners on its own thread.

use agent_core::FlagsUpdate;
use jni::JNIEnv;
use jni::JavaVM;
use jni::objects::{GlobalRef, JClass, JObject, JValue};
use jni::sys::jlong;

use crate::convert::string_array;
use crate::error::BindingError;
use crate::guard::guard;
use crate::handle;

/// Makes the agent behind `handle` tell `target` (its `RumAgent`) of every flag update.
#[unsafe(no_mangle)]
pub extern "system" fn Java_dev_rollout_rum_Native_listenFlags<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    handle: jlong,
    target: JObject<'l>,
) {
    guard(&mut env, (), |env| {
        // SAFETY: Java holds its read lock on a live handle during the call.
        let agent = unsafe { handle::agent(handle) }?;
        let vm = env.get_java_vm()?;
        // A global reference: the update comes on the core's sync thread. Calling a method of
        // the object needs no FindClass of an app class, which fails on Android's native
        // threads (they see only the system class loader).
        let target = env.new_global_ref(target)?;
        agent.on_flags_update(move |update| deliver(&vm, &target, update));
        Ok(())
    })
}

/// Calls `target.flagsUpdated(version, flags)` from the core's thread, attached to the JVM as a
/// daemon (detached when it ends). A Java exception (e.g. the method stripped by a shrinker
/// without the AAR's consumer rules) is printed to the log and cleared: the sync thread goes on.
fn deliver(vm: &JavaVM, target: &GlobalRef, update: &FlagsUpdate) {
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
            "(J[Ljava/lang/String;)V",
            &[JValue::Long(version), JValue::Object(&flags)],
        )?;
        Ok(())
    });
    if env.exception_check().unwrap_or(false) {
        let _ = env.exception_describe();
        let _ = env.exception_clear();
    }
}
