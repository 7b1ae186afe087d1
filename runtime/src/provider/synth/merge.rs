//! Merging the schemas `allOf`, `$ref` and a chosen `oneOf`/`anyOf` branch combine, so one
//! value can be generated for all of them at once.

use serde_json::{Map, Value};

/// Merges `part` into `into` as an approximation of "both must hold": properties and `required`
/// are united, numeric bounds tightened, types and enums intersected; for anything else the
/// first schema that says something wins.
pub(super) fn merge(into: &mut Map<String, Value>, part: &Map<String, Value>) {
    for (key, value) in part {
        let Some(existing) = into.get_mut(key) else {
            into.insert(key.clone(), value.clone());
            continue;
        };
        match key.as_str() {
            "properties" => {
                if let (Some(mine), Some(theirs)) = (existing.as_object_mut(), value.as_object()) {
                    for (name, schema) in theirs {
                        match (mine.get_mut(name).and_then(Value::as_object_mut), schema) {
                            (Some(m), Value::Object(t)) => merge(m, t),
                            (None, _) => {
                                mine.insert(name.clone(), schema.clone());
                            }
                            _ => {}
                        }
                    }
                }
            }
            "required" => {
                if let (Some(mine), Some(theirs)) = (existing.as_array_mut(), value.as_array()) {
                    for name in theirs {
                        if !mine.contains(name) {
                            mine.push(name.clone());
                        }
                    }
                }
            }
            "minimum" | "exclusiveMinimum" | "minLength" | "minItems" | "minProperties" => {
                tighten(existing, value, f64::max);
            }
            "maximum" | "exclusiveMaximum" | "maxLength" | "maxItems" | "maxProperties" => {
                tighten(existing, value, f64::min);
            }
            "type" => {
                if let Some(t) = intersect_types(existing, value) {
                    *existing = t;
                }
            }
            "enum" => {
                if let (Some(mine), Some(theirs)) = (existing.as_array_mut(), value.as_array()) {
                    let common: Vec<Value> = mine
                        .iter()
                        .filter(|v| theirs.contains(v))
                        .cloned()
                        .collect();
                    if !common.is_empty() {
                        *mine = common;
                    }
                }
            }
            _ => {}
        }
    }
}

fn tighten(existing: &mut Value, other: &Value, pick: fn(f64, f64) -> f64) {
    if let (Some(a), Some(b)) = (existing.as_f64(), other.as_f64())
        && pick(a, b) == b
    {
        *existing = other.clone();
    }
}

/// The first type both allow (`integer` satisfies `number`); `None` when they share none.
fn intersect_types(a: &Value, b: &Value) -> Option<Value> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    let (a, b) = (list(a), list(b));
    a.iter().find_map(|t| {
        if b.contains(t) {
            Some(Value::String(t.clone()))
        } else if (t == "integer" && b.iter().any(|u| u == "number"))
            || (t == "number" && b.iter().any(|u| u == "integer"))
        {
            Some(Value::String("integer".to_owned()))
        } else {
            None
        }
    })
}
