//! A parsed file's stored values back as a float `ModelSpec` (int8 times its scales, f16
//! widened, packed weights unpacked): for tools that rebuild a model elsewhere.

use super::{parse, DType, Layout, LinearRef, TensorRef};
use crate::error::Error;
use crate::kernels::out_pad;
use crate::quant::f16_bits_to_f32;
use crate::spec::{LinearSpec, ModelSpec};

/// Validates `bytes` as [`parse`] does and returns the values the runtime computes with,
/// as f32: a float file gives its weights exactly, an int8 file `q × scale`.
pub fn read_spec(bytes: &[u8]) -> Result<ModelSpec, Error> {
    let layout = parse(bytes)?;
    let embeddings = layout
        .embeddings
        .iter()
        .map(|t| t.as_ref().map(|t| row_major(bytes, t)))
        .collect();
    let linears = layout.linears.iter().map(|l| linear(bytes, l)).collect();
    let Layout { config, .. } = layout;
    Ok(ModelSpec {
        config,
        embeddings,
        linears,
    })
}

/// Value `i` of the `dtype` array at `offset`, as f32 (int8 unscaled).
fn value(bytes: &[u8], offset: usize, dtype: DType, i: usize) -> f32 {
    let at = offset + i * dtype.size();
    match dtype {
        DType::F32 => f32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")),
        DType::F16 => f16_bits_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]])),
        DType::I8 => f32::from(bytes[at] as i8),
    }
}

fn row_major(bytes: &[u8], t: &TensorRef) -> Vec<f32> {
    let scale = |r: usize| t.scales.map_or(1.0, |s| value(bytes, s, DType::F32, r));
    (0..t.rows * t.cols)
        .map(|i| value(bytes, t.offset, t.dtype, i) * scale(i / t.cols))
        .collect()
}

fn linear(bytes: &[u8], l: &LinearRef) -> LinearSpec {
    let (inputs, out, pad) = (l.inputs, l.outputs, out_pad(l.outputs));
    let mut weight = vec![0.0; out * inputs];
    for p in l.parts() {
        // See docs/FORMAT.md, "Linear layers": where (output o, column c) lies.
        let index = |o: usize, c: usize| match (l.dtype, p.row_major) {
            (DType::I8, _) => (c / 4) * pad * 4 + o * 4 + c % 4,
            (_, true) => o * p.cols + c,
            (_, false) => c * pad + o,
        };
        for o in 0..out {
            let scale = l.scales.map_or(1.0, |s| value(bytes, s, DType::F32, o));
            for c in 0..p.cols {
                let v = value(bytes, p.offset, l.dtype, index(o, c));
                weight[o * inputs + p.first_col + c] = v * scale;
            }
        }
    }
    let bias = match l.bias {
        Some(b) => (0..out).map(|o| value(bytes, b, DType::F32, o)).collect(),
        None => Vec::new(),
    };
    LinearSpec {
        inputs,
        outputs: out,
        weight,
        bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{write_model, WriteOptions};
    use crate::spec::ModelConfig;

    #[test]
    fn a_written_model_reads_back_as_its_stored_values() {
        let spec = ModelSpec::random(ModelConfig::demo(), 3);
        let f32_file = write_model(&spec, WriteOptions::F32).unwrap();
        assert_eq!(read_spec(&f32_file).unwrap(), spec, "f32 is stored exactly");
        // int8 and f16: writing what was read back stores the same bytes again.
        for opts in [WriteOptions::INT8, WriteOptions::F16] {
            let file = write_model(&spec, opts).unwrap();
            let back = read_spec(&file).unwrap();
            assert_eq!(write_model(&back, opts).unwrap(), file);
        }
    }
}
