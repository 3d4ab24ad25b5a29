//! The JNI boundary: every entry point's panic guard, errors thrown as `CamoeException`,
//! and the handles (raw pointers in a `long`) the Kotlin objects hold.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use camoe::{Error, Model, Status};
use jni::objects::{GlobalRef, JClass, JObject, JValue};
use jni::sys::{jboolean, jint, jlong, jobject};
use jni::JNIEnv;

/// The exception class, resolved once in `JNI_OnLoad`: a native thread attached later
/// (or Android's system class loader) would not find the app's classes by name.
pub(crate) static EXCEPTION_CLASS: OnceLock<GlobalRef> = OnceLock::new();
pub(crate) const EXCEPTION_CLASS_NAME: &str = "dev/camoe/CamoeException";

/// Why an entry point failed: a camoe error to throw, or a JNI failure (a Java exception
/// may already be pending, e.g. an index out of bounds).
pub(crate) enum Failure {
    Camoe(Error),
    Jni(jni::errors::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Camoe(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

pub(crate) type Outcome<T> = Result<T, Failure>;

/// What an entry point returns to Java when it throws (Java ignores the value).
pub(crate) trait Thrown {
    fn thrown() -> Self;
}

impl Thrown for () {
    fn thrown() {}
}
impl Thrown for jint {
    fn thrown() -> Self {
        0
    }
}
impl Thrown for jlong {
    fn thrown() -> Self {
        0
    }
}
impl Thrown for jboolean {
    fn thrown() -> Self {
        0
    }
}
impl Thrown for jobject {
    fn thrown() -> Self {
        std::ptr::null_mut()
    }
}

/// Runs an entry point's body: a camoe error or a panic becomes a `CamoeException`
/// (status `PANIC` for a panic), so nothing unwinds into the JVM, which would abort it.
pub(crate) fn boundary<'l, R: Thrown>(
    env: &mut JNIEnv<'l>,
    body: impl FnOnce(&mut JNIEnv<'l>) -> Outcome<R>,
) -> R {
    let failure = match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(r)) => return r,
        Ok(Err(f)) => f,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(|s| s.as_str()))
                .unwrap_or("a panic");
            Failure::Camoe(camoe::err!(
                Status::Panic,
                "panic in camoe's JNI glue (a bug, please report it): {what}"
            ))
        }
    };
    let error = match failure {
        Failure::Camoe(e) => e,
        Failure::Jni(e) => match e {
            // The JVM already holds the exception to throw (e.g. an index out of bounds).
            jni::errors::Error::JavaException => return R::thrown(),
            jni::errors::Error::NullPtr(what) | jni::errors::Error::NullDeref(what) => {
                camoe::err!(Status::NullArgument, "null argument: {what}")
            }
            other => camoe::err!(Status::InvalidArgument, "JNI call failed: {other}"),
        },
    };
    throw(env, &error);
    R::thrown()
}

/// Throws `CamoeException(status, message)`; if even that fails (no memory), a pending
/// Java error remains, which is what the JVM reports instead.
fn throw(env: &mut JNIEnv<'_>, error: &Error) {
    if env.exception_check().unwrap_or(true) {
        let _ = env.exception_clear();
    }
    let Some(class) = EXCEPTION_CLASS.get() else {
        let _ = env.throw_new("java/lang/IllegalStateException", error.message());
        return;
    };
    let Ok(message) = env.new_string(error.message()) else {
        return;
    };
    let class: &JClass = class.as_obj().into();
    let args = [
        JValue::Int(error.status() as jint),
        JValue::Object(&message),
    ];
    if let Ok(exception) = env.new_object(class, "(ILjava/lang/String;)V", &args) {
        let _ = env.throw(jni::objects::JThrowable::from(exception));
    }
}

/// Error for a handle of a closed object (the Kotlin side checks first; this is the
/// glue's own guard).
fn closed(what: &str) -> Failure {
    Failure::Camoe(camoe::err!(Status::NullArgument, "the {what} is closed"))
}

/// A model handle is `Arc::into_raw`: the Kotlin `Model` holds one count, and every
/// session holds its own `Arc` inside `camoe::Session`.
pub(crate) fn model_into_handle(model: Arc<Model>) -> jlong {
    Arc::into_raw(model) as jlong
}

/// A new count of the handle's model.
pub(crate) fn model_of(handle: jlong) -> Outcome<Arc<Model>> {
    if handle == 0 {
        return Err(closed("model"));
    }
    let ptr = handle as *const Model;
    // SAFETY: a non-zero handle came from `model_into_handle` and its count is released
    // only by `release_model`, which the Kotlin side calls once, after its last use.
    unsafe {
        Arc::increment_strong_count(ptr);
        Ok(Arc::from_raw(ptr))
    }
}

pub(crate) fn release_model(handle: jlong) {
    if handle != 0 {
        // SAFETY: as in `model_of`; this is the handle's one release.
        drop(unsafe { Arc::from_raw(handle as *const Model) });
    }
}

/// A session handle is `Box::into_raw`, owned by the Kotlin `Session`.
pub(crate) fn boxed_into_handle<T>(value: T) -> jlong {
    Box::into_raw(Box::new(value)) as jlong
}

/// The handle's value, borrowed for one call.
pub(crate) fn boxed_mut<'h, T>(handle: jlong, what: &str) -> Outcome<&'h mut T> {
    if handle == 0 {
        return Err(closed(what));
    }
    // SAFETY: a non-zero handle came from `boxed_into_handle::<T>` and is freed only by
    // `release_boxed` after the Kotlin owner's last call; a session is used by one thread
    // at a time (documented), so this borrow is unique for the call.
    Ok(unsafe { &mut *(handle as *mut T) })
}

pub(crate) fn release_boxed<T>(handle: jlong) {
    if handle != 0 {
        // SAFETY: as in `boxed_mut`; this is the handle's one release.
        drop(unsafe { Box::from_raw(handle as *mut T) });
    }
}

/// Resolves the classes the glue needs while the app's class loader is current.
pub(crate) fn on_load(env: &mut JNIEnv<'_>) -> jni::errors::Result<()> {
    let class: JObject = env.find_class(EXCEPTION_CLASS_NAME)?.into();
    let global = env.new_global_ref(class)?;
    let _ = EXCEPTION_CLASS.set(global);
    Ok(())
}
