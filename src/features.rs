//! Features: how a request's or a candidate's values become its part of x0.
//!
//! Rules (also in `docs/FORMAT.md`, "Feature handling"):
//! - a field index out of range, a field of the other side, or a field given twice
//!   is `BadFeature`;
//! - categorical fields take `Id` or `Str` (hashed once, with the model's seed) and
//!   land in rows `1..vocab`; `Dense` for a categorical field is `BadFeature`;
//! - dense fields take `Dense`; NaN is `BadFeature`; ±inf and anything beyond
//!   `clip` standard deviations is clamped to ±clip;
//! - a field not given (or given as `Missing`) follows its policy: `UseDefault`
//!   (categorical row 0, dense value = mean) or `Error` (`BadFeature`).

use crate::err;
use crate::error::{Error, Status};
use crate::hash;
use crate::model::{Mat, Model};
use crate::quant::f16_bits_to_f32;
use crate::spec::{FieldKind, Missing, Side};

/// One value of one field. `Str` borrows the caller's bytes (no copy, no allocation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Missing,
    /// A categorical value given as a 64-bit id (e.g. a numeric ad id).
    Id(u64),
    /// A categorical value given as text; hashed with [`Model::hash_str`].
    Str(&'a [u8]),
    Dense(f32),
}

/// A field (by index, from [`Model::field_index`]) and its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feature<'a> {
    pub field: u32,
    pub value: Value<'a>,
}

impl<'a> Feature<'a> {
    pub fn id(field: u32, id: u64) -> Self {
        Feature {
            field,
            value: Value::Id(id),
        }
    }
    pub fn str(field: u32, s: &'a str) -> Self {
        Feature {
            field,
            value: Value::Str(s.as_bytes()),
        }
    }
    pub fn dense(field: u32, v: f32) -> Self {
        Feature {
            field,
            value: Value::Dense(v),
        }
    }
}

/// A list of features read by index: the Rust slice, or the C ABI's array (converted
/// one entry at a time, so passing features through the C ABI allocates nothing).
pub trait FeatureList {
    fn count(&self) -> usize;
    fn feature(&self, i: usize) -> Result<Feature<'_>, Error>;
}

impl<T: FeatureList + ?Sized> FeatureList for &T {
    fn count(&self) -> usize {
        (**self).count()
    }
    fn feature(&self, i: usize) -> Result<Feature<'_>, Error> {
        (**self).feature(i)
    }
}

impl FeatureList for [Feature<'_>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn feature(&self, i: usize) -> Result<Feature<'_>, Error> {
        Ok(self[i])
    }
}

/// Copies embedding row `row` of `table` (width `out.len()`) into `out` as f32.
pub(crate) fn embedding_row(table: Mat<'_>, row: usize, out: &mut [f32]) {
    let w = out.len();
    let span = row * w..(row + 1) * w;
    match table {
        Mat::F32(t) => out.copy_from_slice(&t[span]),
        Mat::F16(t) => out
            .iter_mut()
            .zip(&t[span])
            .for_each(|(o, &b)| *o = f16_bits_to_f32(b)),
        Mat::I8(t, scales) => {
            let s = scales[row];
            out.iter_mut()
                .zip(&t[span])
                .for_each(|(o, &q)| *o = q as f32 * s);
        }
    }
}

/// Writes one side's part of x0 (`out`, of the side's width) from `features`.
/// `seen` is scratch with one entry per field. `who` names the row in errors.
pub(crate) fn encode<F: FeatureList + ?Sized>(
    model: &Model,
    side: Side,
    features: &F,
    seen: &mut [bool],
    out: &mut [f32],
    who: core::fmt::Arguments<'_>,
) -> Result<(), Error> {
    let cfg = model.config();
    seen.iter_mut().for_each(|s| *s = false);
    for k in 0..features.count() {
        let f = features.feature(k)?;
        let i = f.field as usize;
        let Some(spec) = cfg.fields.get(i) else {
            return Err(err!(
                Status::BadFeature,
                "{who}: field index {} does not exist (model has {})",
                f.field,
                cfg.fields.len()
            ));
        };
        if spec.side != side {
            return Err(err!(
                Status::BadFeature,
                "{who}: field {} belongs to the {} side",
                spec.name,
                side_name(spec.side)
            ));
        }
        if core::mem::replace(&mut seen[i], true) {
            return Err(err!(
                Status::BadFeature,
                "{who}: field {} is given twice",
                spec.name
            ));
        }
        let slot = model.slots[i];
        let dst = &mut out[slot.offset..slot.offset + slot.width];
        match (spec.kind, f.value) {
            (_, Value::Missing) => seen[i] = false,
            (FieldKind::Categorical { vocab, .. }, Value::Id(id)) => {
                write_row(model, i, hash::bucket(id, slot.seed, vocab), dst)
            }
            (FieldKind::Categorical { vocab, .. }, Value::Str(s)) => write_row(
                model,
                i,
                hash::bucket(model.hash_str(s), slot.seed, vocab),
                dst,
            ),
            (FieldKind::Dense { mean, std, clip }, Value::Dense(v)) => {
                if v.is_nan() {
                    return Err(err!(
                        Status::BadFeature,
                        "{who}: field {} is NaN",
                        spec.name
                    ));
                }
                dst[0] = ((v - mean) / std).clamp(-clip, clip);
            }
            (FieldKind::Categorical { .. }, Value::Dense(_)) => {
                return Err(err!(
                    Status::BadFeature,
                    "{who}: field {} is categorical, got a float",
                    spec.name
                ));
            }
            (FieldKind::Dense { .. }, _) => {
                return Err(err!(
                    Status::BadFeature,
                    "{who}: field {} is dense, got an id or a string",
                    spec.name
                ));
            }
        }
    }
    for (i, spec) in cfg.fields.iter().enumerate() {
        if spec.side != side || seen[i] {
            continue;
        }
        if spec.missing == Missing::Error {
            return Err(err!(
                Status::BadFeature,
                "{who}: required field {} is missing",
                spec.name
            ));
        }
        let slot = model.slots[i];
        let dst = &mut out[slot.offset..slot.offset + slot.width];
        match spec.kind {
            FieldKind::Categorical { .. } => write_row(model, i, 0, dst),
            FieldKind::Dense { .. } => dst[0] = 0.0,
        }
    }
    Ok(())
}

fn write_row(model: &Model, field: usize, row: u32, dst: &mut [f32]) {
    if let Some(table) = model.embedding(field) {
        embedding_row(table, row as usize, dst);
    }
}

pub(crate) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Request => "request",
        Side::Candidate => "candidate",
    }
}
