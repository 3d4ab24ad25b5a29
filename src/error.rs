//! Status codes (stable across releases) and the error type, which never allocates.

use core::fmt::{self, Write};

/// Outcome of a fallible call. The numbers are part of the C ABI: they are stable
/// and never reused; a retired status stays here as a comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    /// A required pointer argument was NULL.
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
    /// A feature, field, task or option is invalid (unknown name, wrong kind, NaN, missing…).
    BadFeature = -7,
    /// A panic was caught at the C boundary (a bug in camoe: please report it).
    Panic = -8,
    /// An argument other than a feature is invalid (bad option value, bad UTF-8 path…).
    InvalidArgument = -9,
    /// The model's detached Ed25519 signature does not verify with the given public key.
    Signature = -10,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NullArgument => "NULL_ARGUMENT",
            Status::Io => "IO",
            Status::BadModel => "BAD_MODEL",
            Status::Version => "VERSION",
            Status::Checksum => "CHECKSUM",
            Status::Capacity => "CAPACITY",
            Status::BadFeature => "BAD_FEATURE",
            Status::Panic => "PANIC",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::Signature => "SIGNATURE",
        }
    }
}

/// Longest error message kept, in bytes; longer ones are cut at a char boundary.
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
