//! Comparing JSON documents that went through `serde_json`'s default float parser.
//!
//! Without its `float_roundtrip` feature (MESH does not enable it), `serde_json` may read a
//! float it wrote back as a neighbouring value, one unit in the last place away. These helpers
//! compare floats to within that.

use serde_json::Value;

/// Whether `a` and `b` are the same float or neighbours.
pub fn floats_close(a: f64, b: f64) -> bool {
    a == b
        || (a.is_sign_positive() == b.is_sign_positive() && a.to_bits().abs_diff(b.to_bits()) <= 1)
}

/// Whether two JSON documents are equal, floats to within [`floats_close`].
pub fn values_close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => floats_close(x, y),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_close(v, w)))
        }
        _ => a == b,
    }
}
