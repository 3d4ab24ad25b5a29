//! The panic boundary, NULL checks and the thread-local last-error message: the only
//! places where the C ABI turns Rust outcomes into statuses.

use core::cell::RefCell;
use core::ffi::c_char;

use crate::error::{Error, MESSAGE_CAPACITY};

use super::camoe_status;

thread_local! {
    /// NUL-terminated message of the last failed call on this thread.
    static LAST_ERROR: RefCell<[u8; MESSAGE_CAPACITY + 1]> = const { RefCell::new([0; MESSAGE_CAPACITY + 1]) };
}

pub(crate) fn set_last_error(e: &Error) {
    LAST_ERROR.with(|buf| {
        let mut buf = buf.borrow_mut();
        // A NUL inside the message would cut it short for C: replace it.
        let n = e.message().len().min(MESSAGE_CAPACITY);
        for (d, &s) in buf.iter_mut().zip(&e.message().as_bytes()[..n]) {
            *d = if s == 0 { b'?' } else { s };
        }
        buf[n] = 0;
    });
}

pub(crate) fn last_error_ptr() -> *const c_char {
    // The buffer lives as long as the thread; the pointer is stable between calls.
    LAST_ERROR.with(|buf| buf.as_ptr() as *const c_char)
}

/// Records `e` as this thread's last error and returns its status.
pub(crate) fn fail(e: Error) -> camoe_status {
    set_last_error(&e);
    e.status() as camoe_status
}

/// Runs an `extern "C"` body, turning a panic into `CAMOE_STATUS_PANIC` with a message.
macro_rules! ffi_boundary {
    ($body:expr) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> $crate::ffi::camoe_status { $body },
        )) {
            Ok(status) => status,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(|s| s.as_str()))
                    .unwrap_or("unknown");
                $crate::ffi::boundary::fail($crate::err!(
                    $crate::error::Status::Panic,
                    "internal error (panic): {what}"
                ))
            }
        }
    }};
}

/// Returns `CAMOE_STATUS_NULL_ARGUMENT` early when a pointer argument is NULL; else the pointer.
macro_rules! try_ref {
    ($p:expr) => {{
        let p = $p;
        if p.is_null() {
            return $crate::ffi::boundary::fail($crate::err!(
                $crate::error::Status::NullArgument,
                concat!(stringify!($p), " is NULL")
            ));
        }
        p
    }};
}

/// `try_ref!` for out-pointers and mutable handles.
macro_rules! try_mut {
    ($p:expr) => {
        try_ref!($p)
    };
}

/// `ptr[..len]` as a slice; NULL is accepted when `len == 0`, else `CAMOE_STATUS_NULL_ARGUMENT`.
macro_rules! try_slice {
    ($p:expr, $len:expr) => {{
        let (p, len) = ($p, $len);
        if p.is_null() && len > 0 {
            return $crate::ffi::boundary::fail($crate::err!(
                $crate::error::Status::NullArgument,
                concat!(stringify!($p), " is NULL with a non-zero length")
            ));
        }
        // SAFETY: non-NULL (or len 0); the caller promises ptr[..len] is readable.
        unsafe { $crate::ffi::raw_slice(p, len) }
    }};
}

/// Mutable `try_slice!`.
macro_rules! try_slice_mut {
    ($p:expr, $len:expr) => {{
        let (p, len) = ($p, $len);
        if p.is_null() && len > 0 {
            return $crate::ffi::boundary::fail($crate::err!(
                $crate::error::Status::NullArgument,
                concat!(stringify!($p), " is NULL with a non-zero length")
            ));
        }
        if len == 0 {
            &mut []
        } else {
            // SAFETY: non-NULL; the caller promises ptr[..len] is writable and unaliased.
            unsafe { core::slice::from_raw_parts_mut(p, len) }
        }
    }};
}

pub(crate) use {ffi_boundary, try_mut, try_ref, try_slice, try_slice_mut};
