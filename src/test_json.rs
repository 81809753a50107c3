//! Arbitrary JSON values for property tests.

use proptest::prelude::*;
use serde_json::Value;

/// JSON values nested up to four levels: string leaves from `strings`, object keys from the
/// regex `keys`, and floats among the numbers when `floats` is set.
pub fn values(
    strings: BoxedStrategy<String>,
    keys: &'static str,
    floats: bool,
) -> impl Strategy<Value = Value> {
    let mut leaves = vec![
        Just(Value::Null).boxed(),
        any::<bool>().prop_map(Value::Bool).boxed(),
        any::<i64>().prop_map(Value::from).boxed(),
        strings.prop_map(Value::String).boxed(),
    ];
    if floats {
        leaves.push(
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from)
                .boxed(),
        );
    }
    proptest::strategy::Union::new(leaves).prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
