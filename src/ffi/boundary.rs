//! The one audited place where the C ABI touches raw pointers and turns Rust outcomes
//! into statuses: the panic boundary, handle casts (`Castable`), NULL checks, slices,
//! out-pointers, size-versioned structs, and the thread-local last-error message.
//!
//! Every function here that reads through a pointer relies on the promise each
//! exported function's doc asks of its C caller: a non-NULL pointer points at what its
//! type says, live and (for `_mut`) unaliased for the duration of the call; a handle
//! came from this library and was not freed. That promise is the SAFETY argument of
//! each `unsafe` block below; NULL is always checked here first.

use core::cell::RefCell;
use core::ffi::{c_char, CStr};
use core::mem::MaybeUninit;
use std::sync::Arc;

use crate::err;
use crate::error::{Error, Status, MESSAGE_CAPACITY};

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
pub(crate) fn fail(e: Error) -> Status {
    set_last_error(&e);
    e.status()
}

/// What an exported function returns when its body panicked.
pub(crate) trait PanicValue {
    fn on_panic() -> Self;
}

impl PanicValue for Status {
    fn on_panic() -> Status {
        Status::Panic
    }
}

impl PanicValue for () {
    fn on_panic() {}
}

impl PanicValue for *const c_char {
    fn on_panic() -> *const c_char {
        c"unknown".as_ptr()
    }
}

/// Runs the body of an `extern "C"` function: a panic becomes `T::on_panic()` (for a
/// status, `CAMOE_STATUS_PANIC`) with a message for `camoe_last_error`.
pub(crate) fn boundary<T: PanicValue>(body: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(|s| s.as_str()))
                .unwrap_or("unknown");
            set_last_error(&err!(Status::Panic, "internal error (panic): {what}"));
            T::on_panic()
        }
    }
}

/// C holds the handle as `Box::into_raw` (one owner, freed with [`free_box`]).
pub(crate) struct OwnedByBox;
/// C holds the handle as `Arc::into_raw` (shared, freed with [`free_arc`]).
pub(crate) struct OwnedByArc;

/// An opaque C handle type: the Rust value it points to and how C holds it, written
/// once per handle type so that every cast goes through the functions below.
pub(crate) trait Castable {
    type Ownership;
    type RustType;
}

/// The value behind a handle, or None for NULL.
pub(crate) fn cast_ref<'a, C: Castable>(handle: *const C) -> Option<&'a C::RustType> {
    // SAFETY: a non-NULL handle of type C was made by to_box/to_arc from a C::RustType
    // and is live (the ABI contract above).
    unsafe { handle.cast::<C::RustType>().as_ref() }
}

/// The value behind a Box handle, mutably, or None for NULL.
pub(crate) fn cast_mut<'a, C: Castable<Ownership = OwnedByBox>>(
    handle: *mut C,
) -> Option<&'a mut C::RustType> {
    // SAFETY: as cast_ref; a Box handle has one owner, who promises not to use it from
    // two threads at once, so the reference is unique for the call.
    unsafe { handle.cast::<C::RustType>().as_mut() }
}

/// One more owner of the value behind an Arc handle (the caller's handle stays valid).
pub(crate) fn clone_arc<C: Castable<Ownership = OwnedByArc>>(
    handle: *const C,
) -> Option<Arc<C::RustType>> {
    if handle.is_null() {
        return None;
    }
    let p = handle.cast::<C::RustType>();
    // SAFETY: a live handle made by to_arc (Arc::into_raw); we add one strong count and
    // take ownership of exactly that count.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

pub(crate) fn to_arc<C: Castable<Ownership = OwnedByArc>>(v: Arc<C::RustType>) -> *mut C {
    Arc::into_raw(v) as *mut C
}

pub(crate) fn to_box<C: Castable<Ownership = OwnedByBox>>(v: C::RustType) -> *mut C {
    Box::into_raw(Box::new(v)).cast::<C>()
}

/// Takes the handle out of the caller's variable and sets the variable to NULL.
fn take_handle<C>(handle: *mut *mut C) -> Option<*mut C> {
    // SAFETY: a non-NULL pointer to the caller's handle variable (the ABI contract).
    let slot = unsafe { handle.as_mut() }?;
    let h = core::mem::replace(slot, core::ptr::null_mut());
    (!h.is_null()).then_some(h)
}

/// Releases the caller's reference and sets `*handle` to NULL; NULL is a no-op.
pub(crate) fn free_arc<C: Castable<Ownership = OwnedByArc>>(handle: *mut *mut C) {
    if let Some(h) = take_handle(handle) {
        // SAFETY: made by to_arc; released once, since the caller's variable is now NULL.
        drop(unsafe { Arc::from_raw(h.cast::<C::RustType>()) });
    }
}

/// Drops the value and sets `*handle` to NULL; NULL is a no-op.
pub(crate) fn free_box<C: Castable<Ownership = OwnedByBox>>(handle: *mut *mut C) {
    if let Some(h) = take_handle(handle) {
        // SAFETY: made by to_box; freed once, since the caller's variable is now NULL.
        drop(unsafe { Box::from_raw(h.cast::<C::RustType>()) });
    }
}

/// An out-pointer as a place to write, or None for NULL.
pub(crate) fn out_ref<'a, T>(out: *mut T) -> Option<&'a mut MaybeUninit<T>> {
    // SAFETY: non-NULL out-pointers point at writable storage for a T (the ABI
    // contract); MaybeUninit makes no claim about what is there now.
    unsafe { out.cast::<MaybeUninit<T>>().as_mut() }
}

/// A NUL-terminated string argument, or None for NULL.
pub(crate) fn c_str<'a>(s: *const c_char) -> Option<&'a CStr> {
    // SAFETY: non-NULL string arguments are NUL-terminated (the ABI contract).
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) })
}

/// `ptr[..len]`; an empty slice when `len == 0` (ptr may then be NULL); None when ptr
/// is NULL with a non-zero length.
pub(crate) fn c_slice<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    match (len, ptr.is_null()) {
        (0, _) => Some(&[]),
        (_, true) => None,
        // SAFETY: non-NULL array arguments hold `len` readable elements (the ABI contract).
        _ => Some(unsafe { core::slice::from_raw_parts(ptr, len) }),
    }
}

/// Mutable [`c_slice`], for output arrays.
pub(crate) fn c_slice_mut<'a, T>(ptr: *mut T, len: usize) -> Option<&'a mut [T]> {
    match (len, ptr.is_null()) {
        (0, _) => Some(&mut []),
        (_, true) => None,
        // SAFETY: non-NULL output arrays hold `len` writable elements that nothing else
        // reads during the call (the ABI contract).
        _ => Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) }),
    }
}

/// A C struct whose first field is `uint32_t struct_size`, so that it can grow: the
/// library reads the caller's first `struct_size` bytes and defaults the rest.
///
/// # Safety
/// `Self` is `#[repr(C)]`, starts with a `u32` size field, and every bit pattern of
/// its bytes is a valid value (integers only).
pub(crate) unsafe trait Growable: Copy {
    /// The size of the struct's first published layout: smaller is an error.
    const MIN_SIZE: usize;
    const NAME: &'static str;
}

/// The caller's `*p`, its fields past the caller's `struct_size` taken from `defaults`.
/// A size below `T::MIN_SIZE` is `InvalidArgument`, and so is a larger struct (a newer
/// caller) that sets any byte this library does not know.
pub(crate) fn read_sized<T: Growable>(p: *const T, defaults: T) -> Result<T, Error> {
    let size = caller_size::<T>(p as *const u32)?;
    let ours = core::mem::size_of::<T>();
    // SAFETY: `size` bytes at p are readable (the ABI contract for a sized struct).
    let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, size) };
    if let Some(i) = bytes.iter().skip(ours).position(|&b| b != 0) {
        return Err(err!(
            Status::InvalidArgument,
            "{} sets byte {} past this library's size {ours}: a field this version does not know",
            T::NAME,
            ours + i
        ));
    }
    let mut v = defaults;
    let n = size.min(ours);
    // SAFETY: `v` is a T of `ours >= n` bytes and any bytes are a valid T (Growable).
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), &mut v as *mut T as *mut u8, n) };
    Ok(v)
}

/// Writes `v` into `*p`, but only the caller's first `struct_size` bytes (read from
/// `*p`), so an older caller's smaller struct is not overrun.
pub(crate) fn write_sized<T: Growable>(p: *mut T, v: T) -> Result<(), Error> {
    let size = caller_size::<T>(p as *const u32)?;
    let n = size.min(core::mem::size_of::<T>());
    // SAFETY: `size >= n >= MIN_SIZE >= 4` bytes at p are writable (the ABI contract);
    // the first four, the size field, stay the caller's.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (&v as *const T as *const u8).add(4),
            (p as *mut u8).add(4),
            n - 4,
        )
    };
    Ok(())
}

/// The largest `struct_size` accepted.
const MAX_STRUCT_SIZE: usize = 1024;

fn caller_size<T: Growable>(p: *const u32) -> Result<usize, Error> {
    // SAFETY: a non-NULL sized struct starts with its u32 size (checked NULL first).
    let size =
        unsafe { p.as_ref() }.ok_or_else(|| err!(Status::NullArgument, "{} is NULL", T::NAME))?;
    let size = *size as usize;
    // Far above any layout: an unset (garbage) size is refused before it is read past.
    if !(T::MIN_SIZE..=MAX_STRUCT_SIZE).contains(&size) {
        return Err(err!(
            Status::InvalidArgument,
            "{}.struct_size {size} is not in {}..={MAX_STRUCT_SIZE}: set it to sizeof({})",
            T::NAME,
            T::MIN_SIZE,
            T::NAME
        ));
    }
    Ok(size)
}

/// Returns `CAMOE_STATUS_NULL_ARGUMENT` early when `$opt` is None, naming `$name`.
macro_rules! or_null {
    ($opt:expr, $name:expr) => {
        match $opt {
            Some(v) => v,
            None => {
                return $crate::ffi::boundary::fail($crate::err!(
                    $crate::error::Status::NullArgument,
                    "{} is NULL",
                    $name
                ))
            }
        }
    };
}

/// The value of an `Ok`; an `Err` is recorded and its status returned early.
macro_rules! or_fail {
    ($res:expr) => {
        match $res {
            Ok(v) => v,
            Err(e) => return $crate::ffi::boundary::fail(e),
        }
    };
}

/// The Rust value behind a handle argument; NULL returns `CAMOE_STATUS_NULL_ARGUMENT`.
macro_rules! try_ref {
    ($p:ident) => {
        or_null!($crate::ffi::boundary::cast_ref($p), stringify!($p))
    };
}

/// The Rust value behind a Box handle, mutably; NULL returns `CAMOE_STATUS_NULL_ARGUMENT`.
macro_rules! try_mut {
    ($p:ident) => {
        or_null!($crate::ffi::boundary::cast_mut($p), stringify!($p))
    };
}

/// An out-pointer as `&mut MaybeUninit<T>`; NULL returns `CAMOE_STATUS_NULL_ARGUMENT`.
macro_rules! try_out {
    ($p:ident) => {
        or_null!($crate::ffi::boundary::out_ref($p), stringify!($p))
    };
}

/// `ptr[..len]` as a slice; NULL is accepted when `len == 0`, else `CAMOE_STATUS_NULL_ARGUMENT`.
macro_rules! try_slice {
    ($p:ident, $len:expr) => {
        or_null!(
            $crate::ffi::boundary::c_slice($p, $len),
            concat!(stringify!($p), " with a non-zero length")
        )
    };
}

/// Mutable `try_slice!`.
macro_rules! try_slice_mut {
    ($p:ident, $len:expr) => {
        or_null!(
            $crate::ffi::boundary::c_slice_mut($p, $len),
            concat!(stringify!($p), " with a non-zero length")
        )
    };
}

pub(crate) use {or_fail, or_null, try_mut, try_out, try_ref, try_slice, try_slice_mut};
