//! Status codes (stable across releases) and the error type, which never allocates.

use core::fmt::{self, Write};

// The one list of statuses: cbindgen emits this enum, with its docs, as the header's
// `camoe_status` and `CAMOE_STATUS_*` constants; `status_names!` below names each one
// and builds `Status::ALL` from one list the compiler checks against this enum.
/// Outcome of a call: `CAMOE_STATUS_OK` (0) or a negative error. The numbers are
/// stable and never reused; a retired status stays listed here as a comment.
/// Which status a bad input gets: `CAMOE_STATUS_BAD_FEATURE` when the data being
/// scored is bad, `CAMOE_STATUS_INVALID_ARGUMENT` when the call itself is wrong,
/// `CAMOE_STATUS_NULL_ARGUMENT` when a required pointer is NULL (see the conventions
/// at the top).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL (or NULL with a non-zero length).
    NullArgument = -1,
    /// The model file could not be opened or read.
    Io = -2,
    /// The model bytes are not a valid `.camoe` model.
    BadModel = -3,
    /// The file's format version is not one this runtime reads.
    Version = -4,
    /// The file's checksum does not match its contents.
    Checksum = -5,
    /// More candidates than the session was sized for, or an output buffer too small.
    Capacity = -6,
    /// The data being scored is bad: a feature's field index, kind or value, a missing
    /// required value, a candidate's task index or bid (or no request was set).
    BadFeature = -7,
    /// A panic was caught at the C boundary (a bug in camoe: please report it).
    Panic = -8,
    /// The call itself is wrong: an index or a name given to an info or lookup
    /// function, an option value, a size (`max_candidates`, `struct_size`), a path
    /// that is not UTF-8, a misaligned borrowed buffer.
    InvalidArgument = -9,
    /// The model's detached Ed25519 signature does not verify with the given public key.
    Signature = -10,
}

/// Names each status (an exhaustive match, so a new status cannot go unnamed) and
/// lists them all in [`Status::ALL`] from the same list.
macro_rules! status_names {
    ($($status:ident => $name:literal,)*) => {
        impl Status {
            /// Every status, for tests and lookups by number.
            pub const ALL: &'static [Status] = &[$(Status::$status),*];

            /// The name C sees after `CAMOE_STATUS_`, NUL-terminated.
            pub fn c_name(self) -> &'static core::ffi::CStr {
                let bytes: &'static [u8] = match self {
                    $(Status::$status => concat!($name, "\0").as_bytes(),)*
                };
                core::ffi::CStr::from_bytes_with_nul(bytes).unwrap_or(c"UNKNOWN")
            }
        }
    };
}

status_names! {
    Ok => "OK",
    NullArgument => "NULL_ARGUMENT",
    Io => "IO",
    BadModel => "BAD_MODEL",
    Version => "VERSION",
    Checksum => "CHECKSUM",
    Capacity => "CAPACITY",
    BadFeature => "BAD_FEATURE",
    Panic => "PANIC",
    InvalidArgument => "INVALID_ARGUMENT",
    Signature => "SIGNATURE",
}

impl Status {
    /// `"BAD_MODEL"`…: the name C sees after `CAMOE_STATUS_`.
    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or("UNKNOWN")
    }

    /// The status numbered `code`, if any.
    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as i32 == code)
    }
}

/// Longest error message kept, in bytes; longer ones are cut at a char boundary.
/// cbindgen:ignore
pub const MESSAGE_CAPACITY: usize = 256;

/// An error: a status and a message in a fixed-size buffer (no heap allocation, so
/// even the error path of `rank` allocates nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: heapless::String<MESSAGE_CAPACITY>,
}

/// Writes into a heapless string, dropping what does not fit.
struct Truncating<'a>(&'a mut heapless::String<MESSAGE_CAPACITY>);

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl Error {
    pub fn new(status: Status, message: fmt::Arguments) -> Error {
        let mut m = heapless::String::new();
        let _ = Truncating(&mut m).write_fmt(message);
        Error { status, message: m }
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// `err!(Status::X, "fmt", args…)` builds an [`Error`].
#[macro_export]
macro_rules! err {
    ($status:expr, $($arg:tt)*) => { $crate::error::Error::new($status, format_args!($($arg)*)) };
}
