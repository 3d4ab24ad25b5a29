//! camoe's JNI glue (`libcamoe_jni.so`): the native methods of the Kotlin SDK's
//! `dev.camoe.Native`, binding the runtime's Rust API. The library exports only
//! `Java_*` and `JNI_OnLoad` (see `build.rs`).

// camoe::Error is a fixed-size message buffer by design (its error paths never allocate).
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod boundary;

use std::ffi::c_void;
use std::fs::File;
use std::io::Read;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Weak};

use camoe::spec::{FieldKind, Missing, Side};
use camoe::{
    CandidateColumns, Column, ColumnValues, Feature, Model, Objective, RankOptions, Session,
    SessionOptions, Status, Value,
};
use jni::objects::{
    JByteArray, JByteBuffer, JClass, JFloatArray, JIntArray, JLongArray, JObject, JObjectArray,
    JString,
};
use jni::sys::{jboolean, jbyte, jint, jlong, jobject, JNI_ERR, JNI_VERSION_1_6};
use jni::{JNIEnv, JavaVM};

use boundary::{
    boundary, boxed_into_handle, boxed_mut, model_into_handle, model_of, release_boxed,
    release_model, Failure, Outcome,
};

/// Most columns a batch may have (one per candidate field; a field twice is an error).
const MAX_COLUMNS: usize = 64;

/// Column kinds as `CandidateBatch` encodes them; `HAS_MISSING` marks a column whose
/// missing flags are set.
const KIND_IDS: jint = 0;
const KIND_TEXT: jint = 1;
const KIND_DENSE: jint = 2;
const KIND_MASK: jint = 0xff;
const HAS_MISSING: jint = 0x100;

/// Request value kinds as `Request` encodes them.
const VALUE_MISSING: jbyte = 0;
const VALUE_ID: jbyte = 1;
const VALUE_TEXT: jbyte = 2;
const VALUE_DENSE: jbyte = 3;

fn invalid(message: core::fmt::Arguments<'_>) -> Failure {
    Failure::Camoe(camoe::err!(Status::InvalidArgument, "{message}"))
}

fn count(value: jint, what: &str) -> Outcome<usize> {
    usize::try_from(value).map_err(|_| invalid(format_args!("{what} {value} is negative")))
}

/// `v[..len]`, growing `v` first if needed (so after warm-up nothing is allocated).
fn fit<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// Lets a JNI region call fill a slice of the Rust type with the same bits
/// (`u32` from `int`, `u64` from `long`, `u8` from `byte`, `f32` from `float`).
fn fill_as<J: Copy, T: Copy>(
    dst: &mut [T],
    fill: impl FnOnce(&mut [J]) -> jni::errors::Result<()>,
) -> Outcome<()> {
    const { assert!(size_of::<J>() == size_of::<T>() && align_of::<J>() == align_of::<T>()) };
    // SAFETY: J and T have the same size and alignment (checked above) and are plain
    // integer or float types, for which every bit pattern is valid.
    let java = unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<J>(), dst.len()) };
    Ok(fill(java)?)
}

/// The other direction of [`fill_as`], for outputs.
fn view_as<J: Copy, T: Copy>(src: &[T]) -> &[J] {
    const { assert!(size_of::<J>() == size_of::<T>() && align_of::<J>() == align_of::<T>()) };
    // SAFETY: as in `fill_as`.
    unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<J>(), src.len()) }
}

#[no_mangle]
pub extern "system" fn JNI_OnLoad(vm: JavaVM, _reserved: *mut c_void) -> jint {
    let Ok(mut env) = vm.get_env() else {
        return JNI_ERR;
    };
    let loaded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| boundary::on_load(&mut env)));
    if !matches!(loaded, Ok(Ok(()))) {
        // Loaded outside the SDK's class loader: errors fall back to IllegalStateException.
        let _ = env.exception_clear();
    }
    JNI_VERSION_1_6
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_loadPath<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    path: JString<'l>,
) -> jlong {
    boundary(&mut env, |env| {
        let path: String = env.get_string(&path)?.into();
        Ok(model_into_handle(Model::load(path)?))
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_loadBuffer<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    buffer: JByteBuffer<'l>,
    offset: jint,
    length: jint,
) -> jlong {
    boundary(&mut env, |env| {
        let (offset, length) = (count(offset, "offset")?, count(length, "length")?);
        let address = env.get_direct_buffer_address(&buffer)?;
        let capacity = env.get_direct_buffer_capacity(&buffer)?;
        if offset.checked_add(length).is_none_or(|end| end > capacity) {
            return Err(invalid(format_args!(
                "bytes {offset}..+{length} exceed the buffer's {capacity}"
            )));
        }
        // SAFETY: a direct buffer's memory is `capacity` readable bytes that stay valid
        // while the buffer is reachable, which its local reference ensures during this
        // call; `from_bytes` copies them before returning.
        let bytes = unsafe { std::slice::from_raw_parts(address.add(offset), length) };
        Ok(model_into_handle(Model::from_bytes(bytes)?))
    })
}

/// Reads a file from an offset without moving the descriptor's own position.
struct ReadAt {
    file: File,
    position: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_loadFd<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fd: jint,
    offset: jlong,
    length: jlong,
) -> jlong {
    boundary(&mut env, |_| {
        if fd < 0 || offset < 0 || length < 0 {
            return Err(invalid(format_args!(
                "file descriptor {fd}, offset {offset} and length {length} must not be negative"
            )));
        }
        let length = usize::try_from(length)
            .map_err(|_| invalid(format_args!("length {length} does not fit in memory")))?;
        // SAFETY: the caller's descriptor is open during this call (it is the argument);
        // it is only duplicated here, so the caller's descriptor and its offset are untouched
        // and ours is closed when the model is read.
        let dup = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| Failure::Camoe(camoe::err!(Status::Io, "file descriptor {fd}: {e}")))?;
        let reader = ReadAt {
            file: File::from(dup),
            position: offset as u64,
        };
        Ok(model_into_handle(Model::read_from(reader, length)?))
    })
}

/// The integer behind a `java.io.FileDescriptor` (`fd` on OpenJDK, `descriptor` on
/// Android); JNI reads private fields, so no reflection flags are needed.
#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_descriptorOf<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    fd: JObject<'l>,
) -> jint {
    boundary(&mut env, |env| {
        for name in ["fd", "descriptor"] {
            match env.get_field(&fd, name, "I").and_then(|v| v.i()) {
                Ok(v) => return Ok(v),
                Err(jni::errors::Error::JavaException) => env.exception_clear()?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(invalid(format_args!(
            "this FileDescriptor has no integer descriptor field"
        )))
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_releaseModel<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        release_model(handle);
        Ok(())
    })
}

/// Which list of names `modelStrings` returns.
const NAMES_FIELDS: jint = 0;
const NAMES_TASKS: jint = 1;
const NAMES_FORMATS: jint = 2;
const NAMES_GROUPS: jint = 3;
const NAMES_MODEL: jint = 4;

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_modelStrings<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
    which: jint,
) -> jobject {
    boundary(&mut env, |env| {
        let model = model_of(handle)?;
        let cfg = model.config();
        let names: Vec<&str> = match which {
            NAMES_FIELDS => cfg.fields.iter().map(|f| f.name.as_str()).collect(),
            NAMES_TASKS => cfg.tasks.iter().map(|t| t.name.as_str()).collect(),
            NAMES_FORMATS => cfg.formats.iter().map(String::as_str).collect(),
            NAMES_GROUPS => cfg.groups.iter().map(String::as_str).collect(),
            NAMES_MODEL => vec![cfg.name.as_str()],
            _ => return Err(invalid(format_args!("no name list {which}"))),
        };
        let array =
            env.new_object_array(names.len() as jint, "java/lang/String", JObject::null())?;
        for (i, name) in names.iter().enumerate() {
            let s = env.new_string(name)?;
            env.set_object_array_element(&array, i as jint, &s)?;
            env.delete_local_ref(s)?;
        }
        Ok(array.into_raw())
    })
}

/// Which numbers `modelInts` returns: per field (side, kind, missing policy), per task
/// (format, group), or the model's mode.
const INTS_FIELDS: jint = 0;
const INTS_TASKS: jint = 1;
const INTS_MODE: jint = 2;

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_modelInts<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
    which: jint,
) -> jobject {
    boundary(&mut env, |env| {
        let model = model_of(handle)?;
        let cfg = model.config();
        let ints: Vec<jint> = match which {
            INTS_FIELDS => cfg
                .fields
                .iter()
                .flat_map(|f| {
                    let side = (f.side == Side::Candidate) as jint;
                    let kind = matches!(f.kind, FieldKind::Dense { .. }) as jint;
                    [side, kind, (f.missing == Missing::Error) as jint]
                })
                .collect(),
            INTS_TASKS => cfg
                .tasks
                .iter()
                .flat_map(|t| [t.format as jint, t.group as jint])
                .collect(),
            INTS_MODE => vec![model.mode() as jint],
            _ => return Err(invalid(format_args!("no number list {which}"))),
        };
        let array = env.new_int_array(ints.len() as jint)?;
        env.set_int_array_region(&array, 0, &ints)?;
        Ok(array.into_raw())
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_hash<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
    text: JByteArray<'l>,
) -> jlong {
    boundary(&mut env, |env| {
        let model = model_of(handle)?;
        let bytes = env.convert_byte_array(&text)?;
        Ok(model.hash_str(&bytes) as jlong)
    })
}

/// A weak reference to a handle's model, so a test can see when the model is freed.
#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_watchModel<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
) -> jlong {
    boundary(&mut env, |_| {
        Ok(boxed_into_handle(Arc::downgrade(&model_of(handle)?)))
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_watchedModelAlive<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    watch: jlong,
) -> jboolean {
    boundary(&mut env, |_| {
        let weak = boxed_mut::<Weak<Model>>(watch, "watch")?;
        Ok((weak.strong_count() > 0) as jboolean)
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_releaseWatch<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    watch: jlong,
) {
    boundary(&mut env, |_| {
        release_boxed::<Weak<Model>>(watch);
        Ok(())
    })
}

/// Panics inside the boundary, so a test can check a panic becomes an exception.
#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_panicForTest<'l>(mut env: JNIEnv<'l>, _: JClass<'l>) {
    boundary(&mut env, |_| -> Outcome<()> {
        panic!("deliberate panic (panicForTest)")
    })
}

/// A session and the buffers a call's Java arrays are copied into (sized by the
/// first calls, then reused: a rank allocates nothing).
#[derive(Default)]
struct Buffers {
    fields: Vec<u32>,
    kinds: Vec<u8>,
    ids: Vec<u64>,
    dense: Vec<f32>,
    text: Vec<u8>,
    tasks: Vec<u32>,
    bids: Vec<f32>,
    offsets: Vec<u32>,
    missing: Vec<u8>,
    scores: Vec<f32>,
    order: Vec<u32>,
}

/// Where the last copied batch's columns sit in the buffers, and its options.
struct Layout {
    n: usize,
    columns: usize,
    has_bids: bool,
    fields: [u32; MAX_COLUMNS],
    kinds: [u32; MAX_COLUMNS],
    /// Column `c`'s place among the columns of its kind.
    slots: [usize; MAX_COLUMNS],
    /// A text column's bytes in `Buffers::text`.
    text: [(usize, usize); MAX_COLUMNS],
    opts: RankOptions,
    /// How many scores and order entries the caller's arrays take.
    scores_len: usize,
    order_len: usize,
}

struct NativeSession {
    session: Session,
    buffers: Buffers,
    layout: Layout,
    /// Whether `layout` describes a batch copied by a successful `rank`.
    ranked: bool,
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_newSession<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    model: jlong,
    max_candidates: jint,
    threads: jint,
) -> jlong {
    boundary(&mut env, |_| {
        let options = SessionOptions {
            max_candidates: count(max_candidates, "max_candidates")?,
            // Session::with_options refuses 0 and more than 64 (its MAX_THREADS) itself.
            threads: count(threads, "threads")?,
        };
        let session = Session::with_options(model_of(model)?, options)?;
        Ok(boxed_into_handle(NativeSession {
            session,
            buffers: Buffers::default(),
            layout: Layout {
                n: 0,
                columns: 0,
                has_bids: false,
                fields: [0; MAX_COLUMNS],
                kinds: [0; MAX_COLUMNS],
                slots: [0; MAX_COLUMNS],
                text: [(0, 0); MAX_COLUMNS],
                opts: RankOptions::default(),
                scores_len: 0,
                order_len: 0,
            },
            ranked: false,
        }))
    })
}

#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_releaseSession<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    handle: jlong,
) {
    boundary(&mut env, |_| {
        release_boxed::<NativeSession>(handle);
        Ok(())
    })
}

/// `owner` (the Kotlin session) is passed so it stays reachable, and its cleaner
/// cannot free the handle, while the call runs.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_camoe_Native_setRequest<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    _owner: JObject<'l>,
    handle: jlong,
    n: jint,
    fields: JIntArray<'l>,
    kinds: JByteArray<'l>,
    ids: JLongArray<'l>,
    dense: JFloatArray<'l>,
    texts: JObjectArray<'l>,
) {
    boundary(&mut env, |env| {
        let s = boxed_mut::<NativeSession>(handle, "session")?;
        let b = &mut s.buffers;
        let n = count(n, "feature count")?;
        fill_as(fit(&mut b.fields, n), |d| {
            env.get_int_array_region(&fields, 0, d)
        })?;
        fill_as(fit(&mut b.kinds, n), |d| {
            env.get_byte_array_region(&kinds, 0, d)
        })?;
        fill_as(fit(&mut b.ids, n), |d| {
            env.get_long_array_region(&ids, 0, d)
        })?;
        fill_as(fit(&mut b.dense, n), |d| {
            env.get_float_array_region(&dense, 0, d)
        })?;
        // Each text's bytes, one after another; (start, end) per feature.
        b.text.clear();
        let mut spans = Vec::with_capacity(n);
        for i in 0..n {
            let start = b.text.len();
            if b.kinds[i] as jbyte == VALUE_TEXT {
                let bytes = JByteArray::from(env.get_object_array_element(&texts, i as jint)?);
                let len = env.get_array_length(&bytes)? as usize;
                let dst = fit(&mut b.text, start + len);
                fill_as(&mut dst[start..], |d| {
                    env.get_byte_array_region(&bytes, 0, d)
                })?;
                env.delete_local_ref(bytes)?;
            }
            spans.push((start, b.text.len()));
        }
        let features = (0..n)
            .map(|i| {
                let value = match b.kinds[i] as jbyte {
                    VALUE_MISSING => Value::Missing,
                    VALUE_ID => Value::Id(b.ids[i]),
                    VALUE_TEXT => Value::Str(&b.text[spans[i].0..spans[i].1]),
                    VALUE_DENSE => Value::Dense(b.dense[i]),
                    k => return Err(invalid(format_args!("feature {i}: no value kind {k}"))),
                };
                Ok(Feature {
                    field: b.fields[i],
                    value,
                })
            })
            .collect::<Outcome<Vec<_>>>()?;
        Ok(s.session.set_request(&features)?)
    })
}

/// Ranks the batch `layout` describes in `b` into `b.scores` and `b.order`.
fn rank_copied(session: &mut Session, b: &mut Buffers, l: &Layout) -> Result<usize, camoe::Error> {
    let n = l.n;
    let mut cols = heapless::Vec::<Column<'_>, MAX_COLUMNS>::new();
    for c in 0..l.columns {
        let slot = l.slots[c];
        let values = match l.kinds[c] as jint & KIND_MASK {
            KIND_IDS => ColumnValues::Ids(&b.ids[slot * n..][..n]),
            KIND_DENSE => ColumnValues::Dense(&b.dense[slot * n..][..n]),
            _ => ColumnValues::Text {
                bytes: &b.text[l.text[c].0..l.text[c].1],
                offsets: &b.offsets[slot * (n + 1)..][..n + 1],
            },
        };
        let missing = (l.kinds[c] as jint & HAS_MISSING != 0).then(|| &b.missing[c * n..][..n]);
        // Cannot overflow: `columns <= MAX_COLUMNS` is checked when copying.
        let _ = cols.push(Column {
            field: l.fields[c],
            values,
            missing,
        });
    }
    let bids = l.has_bids.then(|| &b.bids[..n]);
    let batch = CandidateColumns::new(&b.tasks[..n], bids, &cols[..])?;
    let scores = &mut fit(&mut b.scores, n)[..l.scores_len.min(n)];
    let order = &mut fit(&mut b.order, n)[..l.order_len.min(n)];
    session.rank_columns(&batch, &l.opts, scores, order)
}

/// Ranks a `CandidateBatch`: its arrays hold `stride` (its capacity) rows per column,
/// of which the first `n` are used; column `c`'s values sit in the array of its kind at
/// slot = the number of earlier columns of that kind.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_dev_camoe_Native_rank<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    _owner: JObject<'l>,
    handle: jlong,
    n: jint,
    stride: jint,
    tasks: JIntArray<'l>,
    bids: JFloatArray<'l>,
    columns: jint,
    fields: JIntArray<'l>,
    kinds: JIntArray<'l>,
    ids: JLongArray<'l>,
    dense: JFloatArray<'l>,
    texts: JObjectArray<'l>,
    offsets: JIntArray<'l>,
    missing: JByteArray<'l>,
    top_k: jint,
    objective: jint,
    eligible_formats: jint,
    expert_top_k: jint,
    scores: JFloatArray<'l>,
    order: JIntArray<'l>,
) -> jint {
    boundary(&mut env, |env| {
        let s = boxed_mut::<NativeSession>(handle, "session")?;
        s.ranked = false;
        let (b, l) = (&mut s.buffers, &mut s.layout);
        l.opts = RankOptions {
            top_k: count(top_k, "top_k")?,
            objective: match objective {
                0 => Objective::Pctr,
                1 => Objective::ExpectedValue,
                o => return Err(invalid(format_args!("no objective {o}"))),
            },
            eligible_formats: eligible_formats as u32,
            expert_top_k: count(expert_top_k, "expert_top_k")?,
        };
        let (n, stride) = (count(n, "size")?, count(stride, "capacity")?);
        l.n = n;
        l.columns = count(columns, "column count")?;
        if l.columns > MAX_COLUMNS {
            return Err(invalid(format_args!(
                "{} columns: a batch has at most {MAX_COLUMNS}",
                l.columns
            )));
        }
        let at = |slot: usize, rows: usize| (slot * rows) as jint;
        fill_as(&mut l.fields[..l.columns], |d| {
            env.get_int_array_region(&fields, 0, d)
        })?;
        fill_as(&mut l.kinds[..l.columns], |d| {
            env.get_int_array_region(&kinds, 0, d)
        })?;
        fill_as(fit(&mut b.tasks, n), |d| {
            env.get_int_array_region(&tasks, 0, d)
        })?;
        l.has_bids = !bids.as_raw().is_null();
        if l.has_bids {
            fill_as(fit(&mut b.bids, n), |d| {
                env.get_float_array_region(&bids, 0, d)
            })?;
        }
        // Copy each column's first n rows into its kind's buffer at its slot.
        let mut per_kind = [0usize; 3];
        b.text.clear();
        for c in 0..l.columns {
            let kind = l.kinds[c] as jint & KIND_MASK;
            let k = per_kind
                .get_mut(kind as usize)
                .ok_or_else(|| invalid(format_args!("column {c}: no column kind {kind}")))?;
            let slot = *k;
            *k += 1;
            l.slots[c] = slot;
            if l.kinds[c] as jint & HAS_MISSING != 0 {
                let dst = &mut fit(&mut b.missing, (c + 1) * n)[c * n..];
                fill_as(dst, |d| {
                    env.get_byte_array_region(&missing, at(c, stride), d)
                })?;
            }
            match kind {
                KIND_IDS => {
                    let dst = &mut fit(&mut b.ids, (slot + 1) * n)[slot * n..];
                    fill_as(dst, |d| {
                        env.get_long_array_region(&ids, at(slot, stride), d)
                    })?;
                }
                KIND_DENSE => {
                    let dst = &mut fit(&mut b.dense, (slot + 1) * n)[slot * n..];
                    fill_as(dst, |d| {
                        env.get_float_array_region(&dense, at(slot, stride), d)
                    })?;
                }
                KIND_TEXT => {
                    let dst = &mut fit(&mut b.offsets, (slot + 1) * (n + 1))[slot * (n + 1)..];
                    fill_as(&mut *dst, |d| {
                        env.get_int_array_region(&offsets, at(slot, stride + 1), d)
                    })?;
                    let end = dst[n] as usize;
                    let bytes =
                        JByteArray::from(env.get_object_array_element(&texts, slot as jint)?);
                    // Copy no more than the offsets use; a shape error is reported by
                    // `CandidateColumns::new` with the column's name.
                    let len = end.min(env.get_array_length(&bytes)? as usize);
                    let start = b.text.len();
                    let dst = fit(&mut b.text, start + len);
                    fill_as(&mut dst[start..], |d| {
                        env.get_byte_array_region(&bytes, 0, d)
                    })?;
                    env.delete_local_ref(bytes)?;
                    l.text[c] = (start, start + len);
                }
                _ => unreachable!("kinds past KIND_DENSE are refused above"),
            }
        }
        l.scores_len = env.get_array_length(&scores)? as usize;
        l.order_len = env.get_array_length(&order)? as usize;
        let k = rank_copied(&mut s.session, b, l)?;
        env.set_float_array_region(&scores, 0, &b.scores[..n])?;
        env.set_int_array_region(&order, 0, view_as(&b.order[..k]))?;
        s.ranked = true;
        Ok(k as jint)
    })
}

/// The overhead bench's native side: ranks the last batch copied by `rank` again,
/// `iterations` times without crossing JNI, and returns the nanoseconds taken.
#[no_mangle]
pub extern "system" fn Java_dev_camoe_Native_rankCopiedAgain<'l>(
    mut env: JNIEnv<'l>,
    _: JClass<'l>,
    _owner: JObject<'l>,
    handle: jlong,
    iterations: jint,
) -> jlong {
    boundary(&mut env, |_| {
        let s = boxed_mut::<NativeSession>(handle, "session")?;
        if !s.ranked {
            return Err(invalid(format_args!("no batch ranked yet")));
        }
        let start = std::time::Instant::now();
        for _ in 0..count(iterations, "iterations")? {
            std::hint::black_box(rank_copied(&mut s.session, &mut s.buffers, &s.layout)?);
        }
        Ok(start.elapsed().as_nanos() as jlong)
    })
}
