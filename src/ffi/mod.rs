//! The C ABI (`include/camoe.h` is generated from these files by cbindgen): library
//! information here, the data types in `types`, models in `model`, sessions in
//! `session`, and every raw-pointer access and the panic boundary in `boundary`.
//!
//! Conventions, repeated at the top of the header: every fallible function returns a
//! `camoe_status`; outputs go through pointers placed last and are written only on
//! success; `_free(&handle)` frees and NULLs the handle; a failed call leaves a message
//! for `camoe_last_error()` on the calling thread; no function lets a panic escape.

#![allow(non_camel_case_types)]

pub(crate) mod boundary;
mod model;
mod session;
mod types;

use core::ffi::{c_char, CStr};

pub use model::*;
pub use session::*;
pub use types::*;

use crate::error::Status;

/// `(MAJOR << 16) | (MINOR << 8) | PATCH` of this library; equals `CAMOE_VERSION_NUMBER`.
#[no_mangle]
pub extern "C" fn camoe_abi_version() -> u32 {
    (crate::VERSION_MAJOR << 16) | (crate::VERSION_MINOR << 8) | crate::VERSION_PATCH
}

/// Name of a status without its prefix (`"BAD_MODEL"` for `CAMOE_STATUS_BAD_MODEL`), a
/// static NUL-terminated string; `"UNKNOWN"` for a number that is no status.
#[no_mangle]
pub extern "C" fn camoe_status_name(status: i32) -> *const c_char {
    boundary::boundary(|| match Status::from_code(status) {
        Some(s) => s.c_name().as_ptr(),
        None => c"UNKNOWN".as_ptr(),
    })
}

/// Which kernel each slot uses on this CPU, e.g. `"tier=avx512vnni gemm_i8=… dot_f32=…"`
/// (each kernel named by ISA, operation, type and tile); static, NUL-terminated.
/// `CAMOE_KERNEL_TIER=scalar|avx2|avxvnni|avx512vnni|neon|dotprod|i8mm` in the
/// environment caps the tier; it is read once, on first use. A value that names no tier
/// gives `"error: …"` with the message sessions fail with.
#[no_mangle]
pub extern "C" fn camoe_kernel_info() -> *const c_char {
    static INFO: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    boundary::boundary(|| {
        INFO.get_or_init(|| {
            let text = match crate::kernels::try_kernels() {
                Ok(k) => k.describe(),
                Err(e) => format!("error: {}", e.message()),
            };
            std::ffi::CString::new(text).unwrap_or_default()
        })
        .as_ptr()
    })
}

/// Message of the last failed call on this thread (NUL-terminated, never NULL; empty if
/// none failed). Valid until the next camoe call on this thread.
#[no_mangle]
pub extern "C" fn camoe_last_error() -> *const c_char {
    boundary::last_error_ptr()
}

/// For tests: the message last set on this thread, as Rust text.
pub fn last_error_message() -> String {
    // SAFETY: camoe_last_error returns a NUL-terminated thread-local buffer.
    unsafe { CStr::from_ptr(camoe_last_error()) }
        .to_string_lossy()
        .into_owned()
}
