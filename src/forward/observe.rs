//! Calibration's view of the forward pass: the input rows of every linear layer, handed
//! to an observer set on the current thread (`camoe convert --mode int8-static` ranks a
//! float model with one set, to measure each layer's activation range).

use std::cell::RefCell;

/// Which columns of a layer's input an observed row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputPart {
    /// The whole input (a layer that does not read x0).
    All,
    /// x0's request part (a layer that reads x0: once per request).
    Request,
    /// x0's candidate part.
    Candidate,
}

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
