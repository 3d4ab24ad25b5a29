//! Where a model's bytes live: a read-only memory map, an aligned owned buffer, or a
//! caller's buffer (C ABI), plus the one checked cast from bytes to typed slices. The
//! model's packed weights are views into these bytes, so they never move or change.

use crate::err;
use crate::error::{Error, Status};

/// Alignment the loader needs from a caller's buffer to use it in place.
pub const MIN_ALIGN: usize = 16;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub(crate) struct Block([u8; 64]);

pub(crate) enum Storage {
    Owned {
        blocks: Vec<Block>,
        len: usize,
    },
    /// An owned buffer in its own anonymous mapping (page-aligned). Unlike a heap block
    /// it goes back to the system when the model is freed: with glibc, freeing a large
    /// heap block raises the mmap threshold, and loading a model again and again then
    /// grew the heap to several copies of the file (`benches/memory.c`: 10 MB peak for
    /// a 1.4 MB file after 50 loads).
    #[cfg(all(unix, target_pointer_width = "64"))]
    Anonymous {
        ptr: *mut u8,
        len: usize,
    },
    /// A static or caller-owned buffer that outlives the model (the caller's promise).
    Borrowed {
        ptr: *const u8,
        len: usize,
    },
    #[cfg(all(unix, target_pointer_width = "64"))]
    Mapped {
        ptr: *mut u8,
        len: usize,
    },
}

// SAFETY: every variant is read-only after construction; Borrowed and Mapped point at
// memory that stays valid and unmodified while the Storage lives (the caller's promise
// for Borrowed; a private read-only mapping for Mapped).
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    pub(crate) fn copy_of(bytes: &[u8]) -> Storage {
        let filled: Result<Storage, core::convert::Infallible> =
            Storage::owned(bytes.len(), |dst| {
                dst.copy_from_slice(bytes);
                Ok(())
            });
        match filled {
            Ok(s) => s,
            Err(never) => match never {},
        }
    }

    /// An aligned owned buffer of `len` bytes, filled by `fill`: an anonymous mapping
    /// where the platform has one, else a heap block.
    fn owned<E>(len: usize, fill: impl FnOnce(&mut [u8]) -> Result<(), E>) -> Result<Storage, E> {
        #[cfg(all(unix, target_pointer_width = "64"))]
        if let (Some(anonymous), true) = (sys::MAP_ANONYMOUS, len > 0) {
            // SAFETY: a fresh private anonymous read-write mapping; the result is checked
            // against MAP_FAILED before use.
            let ptr = unsafe {
                sys::mmap(
                    core::ptr::null_mut(),
                    len,
                    sys::PROT_READ | sys::PROT_WRITE,
                    sys::MAP_PRIVATE | anonymous | sys::MAP_POPULATE,
                    -1,
                    0,
                )
            };
            if ptr as isize != -1 && !ptr.is_null() {
                // Owned from here: dropped (unmapped) if `fill` fails.
                let storage = Storage::Anonymous {
                    ptr: ptr as *mut u8,
                    len,
                };
                // SAFETY: `len` zero-initialised writable bytes that nothing else refers
                // to until `fill` returns.
                fill(unsafe { core::slice::from_raw_parts_mut(ptr as *mut u8, len) })?;
                return Ok(storage);
            }
        }
        let mut blocks = vec![Block([0; 64]); len.div_ceil(64)];
        // SAFETY: `blocks` holds at least `len` initialised bytes, and Block is plain
        // bytes with no padding, so viewing it as a byte slice is sound.
        let dst = unsafe {
            core::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, blocks.len() * 64)
        };
        fill(&mut dst[..len])?;
        Ok(Storage::Owned { blocks, len })
    }

    /// Uses the caller's bytes in place; a start not aligned to [`MIN_ALIGN`] is
    /// `InvalidArgument` (the tensors are read through typed slices).
    ///
    /// # Safety
    /// `bytes` must stay readable and unmodified for the lifetime of the Storage.
    pub(crate) unsafe fn borrow(bytes: &[u8]) -> Result<Storage, Error> {
        if bytes.as_ptr() as usize % MIN_ALIGN != 0 {
            return Err(err!(
                Status::InvalidArgument,
                "a borrowed model buffer must start at a {MIN_ALIGN}-byte aligned address \
                 (this one is at {:p}): align it, or load a copy",
                bytes.as_ptr()
            ));
        }
        Ok(Storage::Borrowed {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        })
    }

    pub(crate) fn is_zero_copy(&self) -> bool {
        match self {
            Storage::Owned { .. } => false,
            #[cfg(all(unix, target_pointer_width = "64"))]
            Storage::Anonymous { .. } => false,
            _ => true,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: blocks hold at least `len` initialised bytes (see copy_of).
            Storage::Owned { blocks, len } => unsafe {
                core::slice::from_raw_parts(blocks.as_ptr() as *const u8, *len)
            },
            // SAFETY: the caller promised ptr[..len] outlives the storage (borrow).
            Storage::Borrowed { ptr, len } => unsafe { core::slice::from_raw_parts(*ptr, *len) },
            #[cfg(all(unix, target_pointer_width = "64"))]
            // SAFETY: a successful read-only mapping of exactly `len` bytes.
            Storage::Mapped { ptr, len } => unsafe { core::slice::from_raw_parts(*ptr, *len) },
            #[cfg(all(unix, target_pointer_width = "64"))]
            // SAFETY: a successful mapping of exactly `len` bytes, filled by `owned`.
            Storage::Anonymous { ptr, len } => unsafe { core::slice::from_raw_parts(*ptr, *len) },
        }
    }

    /// Reads exactly `len` bytes from `reader` into an aligned owned buffer; `what`
    /// names the source in the error.
    pub(crate) fn read_from(
        mut reader: impl std::io::Read,
        len: usize,
        what: impl core::fmt::Display,
    ) -> Result<Storage, Error> {
        Storage::owned(len, |dst| reader.read_exact(dst))
            .map_err(|e| err!(Status::Io, "cannot read {what} ({len} bytes): {e}"))
    }

    /// Reads a whole file into an aligned owned buffer: what the model then reads can no
    /// longer change, whatever happens to the file.
    pub(crate) fn read_file(path: &std::path::Path) -> Result<Storage, Error> {
        let (file, len) = open_model_file(path)?;
        Storage::read_from(file, len, path.display())
    }

    /// Memory-maps a file read-only (reads it where mmap is unavailable). The file must
    /// not be truncated or modified in place while the mapping lives (replace it by
    /// renaming a new file over it instead): a truncated mapping faults (SIGBUS).
    pub(crate) fn map_file(path: &std::path::Path) -> Result<Storage, Error> {
        let (file, len) = open_model_file(path)?;
        #[cfg(all(unix, target_pointer_width = "64"))]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a fresh private read-only mapping of a file we hold open; the
            // result is checked against MAP_FAILED before use.
            let ptr = unsafe {
                sys::mmap(
                    core::ptr::null_mut(),
                    len,
                    sys::PROT_READ,
                    sys::MAP_PRIVATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr as isize != -1 && !ptr.is_null() {
                return Ok(Storage::Mapped {
                    ptr: ptr as *mut u8,
                    len,
                });
            }
        }
        drop(file);
        Storage::read_file(path)
    }
}

/// Opens a model file and returns it with its length, refusing one too short to hold
/// a header and a trailer.
fn open_model_file(path: &std::path::Path) -> Result<(std::fs::File, usize), Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| err!(Status::Io, "cannot open {}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| err!(Status::Io, "cannot stat {}: {e}", path.display()))?
        .len();
    let len =
        usize::try_from(len).map_err(|_| err!(Status::Io, "{} is too large", path.display()))?;
    if len < crate::format::HEADER_LEN + crate::format::TRAILER_LEN {
        return Err(err!(
            Status::BadModel,
            "{} is {len} bytes, shorter than a header",
            path.display()
        ));
    }
    Ok((file, len))
}

impl Drop for Storage {
    fn drop(&mut self) {
        #[cfg(all(unix, target_pointer_width = "64"))]
        if let Storage::Mapped { ptr, len } | Storage::Anonymous { ptr, len } = *self {
            // SAFETY: unmapping exactly the region mmap returned, once.
            unsafe { sys::munmap(ptr as *mut core::ffi::c_void, len) };
        }
    }
}

#[cfg(all(unix, target_pointer_width = "64"))]
mod sys {
    use core::ffi::{c_int, c_void};
    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_PRIVATE: c_int = 2;
    /// Linux: fault the whole mapping in at once (one batch of zeroed pages instead of a
    /// page fault per 4 KB as the file is read into it); 0 (no hint) elsewhere.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub const MAP_POPULATE: c_int = 0x8000;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub const MAP_POPULATE: c_int = 0;
    /// The flag's value where it is known (it differs between systems and, on Linux,
    /// between architectures); elsewhere owned buffers stay on the heap.
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86_64",
            target_arch = "aarch64",
            target_arch = "riscv64"
        )
    ))]
    pub const MAP_ANONYMOUS: Option<c_int> = Some(0x20);
    #[cfg(target_vendor = "apple")]
    pub const MAP_ANONYMOUS: Option<c_int> = Some(0x1000);
    #[cfg(not(any(
        all(
            any(target_os = "linux", target_os = "android"),
            any(
                target_arch = "x86_64",
                target_arch = "aarch64",
                target_arch = "riscv64"
            )
        ),
        target_vendor = "apple"
    )))]
    pub const MAP_ANONYMOUS: Option<c_int> = None;
    extern "C" {
        pub fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            off: i64,
        ) -> *mut c_void;
        pub fn munmap(addr: *mut c_void, len: usize) -> c_int;
    }
}

/// Element types a tensor section may hold, viewed in place by [`cast`].
///
/// # Safety
/// An implementor promises that every bit pattern of `size_of::<Self>()` bytes is a valid
/// value (no padding, no niche, no invalid representations such as `bool`'s or an enum's)
/// and that the type holds no pointers or interior mutability, so that reading arbitrary
/// file bytes as `Self` through a shared reference is sound.
pub(crate) unsafe trait Pod: Copy {}
// SAFETY: f32, u16 and i8 are plain numbers: every bit pattern is a value.
unsafe impl Pod for f32 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}

/// Views `bytes[offset..offset + count * size_of::<T>()]` as `&[T]`.
/// Panics (a bug, never a bad file: the parser checked every range) if the range is
/// out of bounds or misaligned.
pub(crate) fn cast<T: Pod>(bytes: &[u8], offset: usize, count: usize) -> &[T] {
    let size = core::mem::size_of::<T>();
    let raw = &bytes[offset..offset + count * size];
    assert_eq!(
        raw.as_ptr() as usize % core::mem::align_of::<T>(),
        0,
        "misaligned tensor"
    );
    // SAFETY: `raw` is in bounds (sliced above), aligned for T (asserted), T is Pod
    // so any bytes are a valid T, and the result borrows `bytes` immutably.
    unsafe { core::slice::from_raw_parts(raw.as_ptr() as *const T, count) }
}
