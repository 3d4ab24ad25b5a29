//! Calibration's view of the forward pass: the input rows of every linear layer, handed
//! to an observer set on the current thread (`camoe convert --mode int8-static` ranks a
//! float model with one set, to measure each layer's activation range).

use std::cell::RefCell;

/// Which columns of a layer's input an observed row holds: the model's own [`Part`]
/// (all of them, or x0's request or candidate part).
pub use crate::model::Part as InputPart;

/// Called with (layer index in file order, part, one input row) for every row of every
/// product the forward pass runs on this thread.
pub type Observer = Box<dyn FnMut(usize, InputPart, &[f32])>;

thread_local! {
    static OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
}

/// Sets this thread's observer (`None` removes it); returns the previous one. Only the
/// calibration sets one: ranking without it pays one thread-local check per product.
pub fn observe_inputs(observer: Option<Observer>) -> Option<Observer> {
    OBSERVER.with(|o| core::mem::replace(&mut *o.borrow_mut(), observer))
}

/// Hands `rows` rows (`cols` values at `offset`, `stride` apart) to the observer, if any.
pub(super) fn record(
    layer: usize,
    part: InputPart,
    data: &[f32],
    rows: usize,
    (stride, offset, cols): (usize, usize, usize),
) {
    OBSERVER.with(|o| {
        if let Some(f) = o.borrow_mut().as_mut() {
            for r in 0..rows {
                let s = r * stride + offset;
                f(layer, part, &data[s..s + cols]);
            }
        }
    });
}

/// Min/max calibration in one call: runs `f` (rankings of a float model of `cfg`) with an
/// observer that keeps every input's largest |x|, and returns `largest / 127` per input
/// (1 for an input never seen nonzero). The converter has percentiles too (`camoe
/// convert --calibration-range`); tests and benches use this.
pub fn max_abs_scales(cfg: &crate::ModelConfig, f: impl FnOnce()) -> crate::ActivationScales {
    use std::rc::Rc;
    let layers = cfg.layers();
    // Per layer, then x0's request and candidate parts.
    let seen = Rc::new(RefCell::new(vec![0f32; layers.len() + 2]));
    let sink = seen.clone();
    let previous = observe_inputs(Some(Box::new(move |layer, part, row| {
        let m = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        let mut s = sink.borrow_mut();
        let n = s.len();
        let slot = match part {
            InputPart::All => &mut s[layer],
            InputPart::Request => &mut s[n - 2],
            InputPart::Candidate => &mut s[n - 1],
        };
        *slot = slot.max(m);
    })));
    f();
    observe_inputs(previous);
    let seen = seen.borrow();
    let n = layers.len();
    crate::ActivationScales::from_ranges(cfg, seen[n], seen[n + 1], |i| seen[i])
}
