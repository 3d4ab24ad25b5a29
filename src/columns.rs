//! Columnar candidate batches: one array per candidate field (64-bit ids, text with
//! offsets, or floats) plus a task and a bid array, as a JVM, Swift or Python caller
//! already holds them. They are read by the same ranking code as per-candidate lists.

use crate::err;
use crate::error::{Error, Status};
use crate::features::{Feature, FeatureList, Value};
use crate::rank::CandidateList;

/// One candidate field's values for a whole batch.
#[derive(Clone, Copy, Debug)]
pub enum ColumnValues<'a> {
    /// Categorical values as 64-bit ids: raw ids, or text hashed once with
    /// [`crate::Model::hash_str`] (the same rows as passing the text).
    Ids(&'a [u64]),
    /// Categorical values as text: candidate `i`'s value is
    /// `bytes[offsets[i] .. offsets[i + 1]]` (`n + 1` non-decreasing offsets).
    Text { bytes: &'a [u8], offsets: &'a [u32] },
    /// Dense values.
    Dense(&'a [f32]),
}

/// A field (from [`crate::Model::field_index`]), its values, and optionally which
/// candidates lack a value (`missing[i] != 0`: the field's missing policy applies).
#[derive(Clone, Copy, Debug)]
pub struct Column<'a> {
    pub field: u32,
    pub values: ColumnValues<'a>,
    pub missing: Option<&'a [u8]>,
}

/// Columns read by index: the Rust slice, or the C ABI's array (converted one column at
/// a time, so a columnar call through the C ABI allocates nothing).
pub trait ColumnList {
    fn count(&self) -> usize;
    /// Column `k` of a batch of `n` candidates.
    fn column(&self, k: usize, n: usize) -> Result<Column<'_>, Error>;
}

impl ColumnList for [Column<'_>] {
    fn count(&self) -> usize {
        self.len()
    }
    fn column(&self, k: usize, _n: usize) -> Result<Column<'_>, Error> {
        Ok(self[k])
    }
}

/// A batch of `n` candidates as columns. Its shape (every array's length, text
/// offsets) is checked once by [`CandidateColumns::new`]; its values follow the same
/// rules as per-candidate features when ranked.
#[derive(Clone, Copy, Debug)]
pub struct CandidateColumns<'a, L: ColumnList + ?Sized = [Column<'a>]> {
    tasks: &'a [u32],
    bids: Option<&'a [f32]>,
    columns: &'a L,
}

impl<'a, L: ColumnList + ?Sized> CandidateColumns<'a, L> {
    /// `tasks[i]` is candidate `i`'s task; `bids`, when given, one bid per candidate
    /// (required by the expected-value objective). A shape error is
    /// [`Status::InvalidArgument`] naming the column.
    pub fn new(tasks: &'a [u32], bids: Option<&'a [f32]>, columns: &'a L) -> Result<Self, Error> {
        let n = tasks.len();
        let wrong = |what: core::fmt::Arguments<'_>, len: usize, want: usize| {
            err!(
                Status::InvalidArgument,
                "{what} has {len} entries for {n} candidates (needs {want})"
            )
        };
        if let Some(b) = bids {
            if b.len() != n {
                return Err(wrong(format_args!("bids"), b.len(), n));
            }
        }
        for k in 0..columns.count() {
            let c = columns.column(k, n)?;
            let len = match c.values {
                ColumnValues::Ids(v) => v.len(),
                ColumnValues::Dense(v) => v.len(),
                ColumnValues::Text { bytes, offsets } => {
                    if offsets.len() != n + 1 {
                        return Err(wrong(
                            format_args!("column {k} (field {}): text offsets", c.field),
                            offsets.len(),
                            n + 1,
                        ));
                    }
                    let sorted = offsets.windows(2).all(|w| w[0] <= w[1]);
                    let last = offsets[n] as usize;
                    if !sorted || last > bytes.len() {
                        return Err(err!(
                            Status::InvalidArgument,
                            "column {k} (field {}): text offsets must not decrease and end \
                             within the {} text bytes",
                            c.field,
                            bytes.len()
                        ));
                    }
                    n
                }
            };
            if len != n {
                return Err(wrong(
                    format_args!("column {k} (field {})", c.field),
                    len,
                    n,
                ));
            }
            if let Some(m) = c.missing {
                if m.len() != n {
                    return Err(wrong(
                        format_args!("column {k} (field {}): missing flags", c.field),
                        m.len(),
                        n,
                    ));
                }
            }
        }
        Ok(CandidateColumns {
            tasks,
            bids,
            columns,
        })
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn has_bids(&self) -> bool {
        self.bids.is_some()
    }
}

/// Candidate `row` of a batch of `n`, read as a feature list (one feature per column).
pub struct ColumnRow<'a, L: ColumnList + ?Sized> {
    columns: &'a L,
    row: usize,
    n: usize,
}

impl<L: ColumnList + ?Sized> FeatureList for ColumnRow<'_, L> {
    fn count(&self) -> usize {
        self.columns.count()
    }
    fn feature(&self, k: usize) -> Result<Feature<'_>, Error> {
        let c = self.columns.column(k, self.n)?;
        let i = self.row;
        let value = if c.missing.is_some_and(|m| m[i] != 0) {
            Value::Missing
        } else {
            match c.values {
                ColumnValues::Ids(v) => Value::Id(v[i]),
                ColumnValues::Dense(v) => Value::Dense(v[i]),
                ColumnValues::Text { bytes, offsets } => {
                    Value::Str(&bytes[offsets[i] as usize..offsets[i + 1] as usize])
                }
            }
        };
        Ok(Feature {
            field: c.field,
            value,
        })
    }
}

impl<L: ColumnList + ?Sized> CandidateList for CandidateColumns<'_, L> {
    type Row<'r>
        = ColumnRow<'r, L>
    where
        Self: 'r;
    fn count(&self) -> usize {
        self.tasks.len()
    }
    fn task(&self, i: usize) -> u32 {
        self.tasks[i]
    }
    fn bid(&self, i: usize) -> f32 {
        self.bids.map_or(0.0, |b| b[i])
    }
    fn features(&self, i: usize) -> Result<ColumnRow<'_, L>, Error> {
        Ok(ColumnRow {
            columns: self.columns,
            row: i,
            n: self.tasks.len(),
        })
    }
}
