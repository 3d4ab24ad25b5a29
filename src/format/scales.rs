//! Calibrated activation scales (the int8-static mode): an optional f32 section that the
//! config references after its linear layers (docs/FORMAT.md, "Activation scales").

use super::{bad, DType, Layout, TensorName};
use crate::error::Error;
use crate::layers::Source;
use crate::storage::cast;

/// The calibrated input scales of a static int8 model: int8 activations are
/// `round(x / scale)` clamped to ±127, with these fixed scales instead of one per row.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivationScales {
    /// x0's request part (every layer that reads x0 uses it for its request columns).
    pub request: f32,
    /// x0's candidate part (every layer that reads x0 uses it for its candidate columns).
    pub candidate: f32,
    /// Per linear layer in file order: the scale of its input; a layer that reads x0
    /// holds `candidate`.
    pub layers: Vec<f32>,
}

impl ActivationScales {
    /// The scale of a range (a largest |x| or a percentile of it): range / 127, or 1 when
    /// nothing nonzero was seen (an input that is always zero quantizes to zeros with any
    /// scale).
    pub fn scale_of(range: f32) -> f32 {
        if range > 0.0 && range.is_finite() {
            range / 127.0
        } else {
            1.0
        }
    }

    /// Scales from each input's range: x0's request and candidate parts, and `layer(i)`
    /// for each linear layer of `cfg` (file order) that does not read x0; a layer that
    /// reads x0 holds the candidate part's scale.
    pub fn from_ranges(
        cfg: &crate::ModelConfig,
        request: f32,
        candidate: f32,
        mut layer: impl FnMut(usize) -> f32,
    ) -> ActivationScales {
        let candidate = Self::scale_of(candidate);
        ActivationScales {
            request: Self::scale_of(request),
            candidate,
            layers: (cfg.layers().iter().enumerate())
                .map(|(i, l)| match l.source {
                    Source::X0 => candidate,
                    _ => Self::scale_of(layer(i)),
                })
                .collect(),
        }
    }

    /// The section's values: request, candidate, then one per layer.
    pub(crate) fn values(&self) -> Vec<f32> {
        [self.request, self.candidate]
            .into_iter()
            .chain(self.layers.iter().copied())
            .collect()
    }

    /// The scales a parsed file holds, if any (`check` has validated them).
    pub fn of(bytes: &[u8], layout: &Layout) -> Option<ActivationScales> {
        let at = layout.activation_scales?;
        let v: &[f32] = cast(bytes, at, 2 + layout.linears.len());
        Some(ActivationScales {
            request: v[0],
            candidate: v[1],
            layers: v[2..].to_vec(),
        })
    }
}

/// Refuses activation scales the runtime cannot use: a scale that is not positive and
/// finite, a layer reading x0 whose scale is not the candidate part's, or scales in a
/// model whose linear layers are not all int8.
pub(crate) fn check(bytes: &[u8], layout: &Layout) -> Result<(), Error> {
    let Some(s) = ActivationScales::of(bytes, layout) else {
        return Ok(());
    };
    let name = TensorName::ActivationScales;
    if let Some(i) = layout.linears.iter().position(|l| l.dtype != DType::I8) {
        return Err(bad(format_args!(
            "{name}: given, but linear layer {i} is not int8"
        )));
    }
    for (i, &v) in s.values().iter().enumerate() {
        if !(v > 0.0 && v.is_finite()) {
            return Err(bad(format_args!(
                "{name}: value {v} at [{i}] is not a positive finite scale"
            )));
        }
    }
    for (i, l) in layout.config.layers().iter().enumerate() {
        if l.source == Source::X0 && s.layers[i] != s.candidate {
            return Err(bad(format_args!(
                "{name}: linear layer {i} reads x0, its scale {} is not the candidate part's {}",
                s.layers[i], s.candidate
            )));
        }
    }
    Ok(())
}
