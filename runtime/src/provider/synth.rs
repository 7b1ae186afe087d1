//! Builds a JSON value that validates against a JSON Schema, so the mock provider can answer any
//! function in dev mode without a scenario.
//!
//! It covers what output schemas use in practice: objects, arrays, strings with lengths and common
//! formats, numbers with ranges and `multipleOf`, `const`, `enum`, `default`, `examples`, local
//! `$ref`s and the composition keywords (`allOf` merged, first branch of `oneOf`/`anyOf`).
//! `pattern`, `not`, `if`/`then`/`else` and dependent keywords are not honoured.

use std::borrow::Cow;
use std::cell::Cell;

use serde_json::{Map, Number, Value};

use merge::merge;

/// Past this depth nothing more is generated (JSON null): a guard against `$ref` cycles.
const MAX_DEPTH: usize = 32;
/// Past this depth only required properties and required array items are generated, so a
/// recursive schema (a tree whose children are optional) ends long before `MAX_DEPTH`.
const OPTIONAL_DEPTH: usize = 8;
/// No generated array is longer, whatever `minItems` says: the schema is configuration, but
/// a typo must not allocate gigabytes.
const MAX_ITEMS: u64 = 1024;

/// The most schemas one synthesis visits: wide recursive schemas (`allOf` of several
/// self-references, trees with many optional children) would otherwise take exponential time.
const MAX_STEPS: u32 = 100_000;

/// Keywords that combine schemas; a schema using none of them is read without copying.
const COMPOSITION: [&str; 4] = ["$ref", "allOf", "anyOf", "oneOf"];

/// A value valid against `schema` (for the keywords listed in the module docs).
pub fn synthesize(schema: &Value) -> Value {
    Synth {
        root: schema,
        steps: Cell::new(MAX_STEPS),
    }
    .value(schema, 0, 0, "")
}

/// The document `$ref`s resolve against, and the work left.
struct Synth<'a> {
    root: &'a Value,
    steps: Cell<u32>,
}

impl<'a> Synth<'a> {
    /// `salt` makes sibling items of a `uniqueItems` array differ; `hint` (the property name)
    /// makes generated strings read naturally: `{"summary": "mock summary"}`.
    fn value(&self, schema: &'a Value, depth: usize, salt: usize, hint: &str) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true`, `false` and malformed schemas: null is as good as anything.
            return Value::Null;
        };
        if depth > MAX_DEPTH || !self.step() {
            return Value::Null;
        }
        let flat = self.flatten(obj, depth);
        self.generate(&flat, depth, salt, hint)
    }

    /// The schema with `$ref`, `allOf` and the first `oneOf`/`anyOf` branch merged in.
    fn flatten(&self, obj: &'a Map<String, Value>, depth: usize) -> Cow<'a, Map<String, Value>> {
        if depth > MAX_DEPTH || !COMPOSITION.iter().any(|k| obj.contains_key(*k)) || !self.step() {
            return Cow::Borrowed(obj);
        }
        let mut merged: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !COMPOSITION.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut parts: Vec<&'a Value> = Vec::new();
        if let Some(target) = obj
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            parts.push(target);
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            parts.extend(all);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(first) = obj
                .get(key)
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                parts.push(first);
            }
        }
        for part in parts {
            if let Some(part) = part.as_object() {
                let part = self.flatten(part, depth + 1);
                merge(&mut merged, &part);
            }
        }
        Cow::Owned(merged)
    }

    /// Spends one step of the budget; `false` once it is gone.
    fn step(&self) -> bool {
        let left = self.steps.get();
        self.steps.set(left.saturating_sub(1));
        left > 0
    }

    /// A local reference: `#`, `#/$defs/x`, `#/definitions/x`, any JSON pointer into the root.
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        // `$ref` values are URI fragments: a `%25`-style escape would be unusual in a key, but
        // `~0`/`~1` are JSON pointer escapes that `pointer` already handles.
        self.root.pointer(pointer)
    }

    fn generate(
        &self,
        schema: &Map<String, Value>,
        depth: usize,
        salt: usize,
        hint: &str,
    ) -> Value {
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.is_empty()
        {
            return values[salt % values.len()].clone();
        }
        // A default or an example is what the schema's author would answer; only the first item
        // of a unique array may use it, the others must differ.
        if salt == 0
            && let Some(value) = schema.get("default")
        {
            return value.clone();
        }
        if let Some(value) = schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.get(salt))
        {
            return value.clone();
        }
        match type_of(schema) {
            Some("object") => self.object(schema, depth, salt),
            Some("array") => self.array(schema, depth, salt, hint),
            Some("string") => Value::String(string(schema, salt, hint)),
            Some("integer") => number(schema, true, salt),
            Some("number") => number(schema, false, salt),
            Some("boolean") => Value::Bool(salt.is_multiple_of(2)),
            _ => Value::Null,
        }
    }

    fn object(&self, schema: &Map<String, Value>, depth: usize, salt: usize) -> Value {
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        let extras_allowed = !matches!(additional, Some(Value::Bool(false)));
        let max = count(schema, "maxProperties").unwrap_or(u64::MAX);
        let min = count(schema, "minProperties").unwrap_or(0).min(MAX_ITEMS);
        let any = Value::Bool(true);
        let extra_schema = additional.filter(|a| a.is_object()).unwrap_or(&any);

        let mut out = Map::new();
        for name in strings(schema.get("required")) {
            let property = properties.get(name).unwrap_or(extra_schema);
            out.insert(name.to_owned(), self.value(property, depth + 1, salt, name));
        }
        if depth < OPTIONAL_DEPTH {
            for (name, property) in properties {
                if (out.len() as u64) < max && !out.contains_key(name) {
                    out.insert(name.clone(), self.value(property, depth + 1, salt, name));
                }
            }
        }
        let mut n = 0;
        while extras_allowed && (out.len() as u64) < min {
            let name = format!("property_{n}");
            if !out.contains_key(&name) {
                let value = self.value(extra_schema, depth + 1, salt, &name);
                out.insert(name, value);
            }
            n += 1;
        }
        Value::Object(out)
    }

    fn array(&self, schema: &Map<String, Value>, depth: usize, salt: usize, hint: &str) -> Value {
        let min = count(schema, "minItems").unwrap_or(0);
        let max = count(schema, "maxItems").unwrap_or(u64::MAX);
        let len = if depth >= OPTIONAL_DEPTH && min == 0 {
            0
        } else {
            min.max(1).min(max).min(MAX_ITEMS)
        };
        let any = Value::Bool(true);
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        let items = schema.get("items");
        // Drafts before 2020-12 spell tuples as an `items` array plus `additionalItems`.
        let tuple = items.and_then(Value::as_array);
        let rest = match tuple {
            Some(_) => schema.get("additionalItems").unwrap_or(&any),
            None => items.unwrap_or(&any),
        };
        let unique = schema.get("uniqueItems") == Some(&Value::Bool(true));
        let contains = schema.get("contains").filter(|_| items.is_none());

        let values = (0..len as usize)
            .map(|i| {
                let item = prefix
                    .and_then(|p| p.get(i))
                    .or_else(|| tuple.and_then(|t| t.get(i)))
                    .or(if i == 0 { contains } else { None })
                    .unwrap_or(rest);
                let salt = if unique { salt + i } else { salt };
                self.value(item, depth + 1, salt, hint)
            })
            .collect();
        Value::Array(values)
    }
}

/// The schema's type: `type` (the first entry of a list), else what its keywords imply.
fn type_of(schema: &Map<String, Value>) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => return Some(t),
        Some(Value::Array(types)) => return types.first().and_then(Value::as_str),
        _ => {}
    }
    let has = |keys: &[&str]| keys.iter().any(|k| schema.contains_key(*k));
    if has(&[
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "minProperties",
    ]) {
        Some("object")
    } else if has(&["items", "prefixItems", "minItems", "maxItems", "contains"]) {
        Some("array")
    } else if has(&["minLength", "maxLength", "format", "pattern"]) {
        Some("string")
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        Some("number")
    } else {
        None
    }
}

fn string(schema: &Map<String, Value>, salt: usize, hint: &str) -> String {
    let formatted = schema
        .get("format")
        .and_then(Value::as_str)
        .and_then(|f| formatted(f, salt));
    if let Some(s) = formatted {
        return s;
    }
    let mut s = if hint.is_empty() {
        "mock".to_owned()
    } else {
        format!("mock {hint}")
    };
    if salt > 0 {
        s.push_str(&format!(" {salt}"));
    }
    // JSON Schema lengths count code points, not bytes.
    let min = count(schema, "minLength").unwrap_or(0).min(MAX_ITEMS * 64) as usize;
    let len = s.chars().count();
    if len < min {
        s.extend(std::iter::repeat_n('x', min - len));
    }
    if let Some(max) = count(schema, "maxLength")
        && let Some((cut, _)) = s.char_indices().nth(max as usize)
    {
        s.truncate(cut);
    }
    s
}

/// A canonical example of a string format; `None` for formats we do not know.
fn formatted(format: &str, salt: usize) -> Option<String> {
    let s = match format {
        "date-time" => format!("2024-01-{:02}T00:00:00Z", salt % 28 + 1),
        "date" => format!("2024-01-{:02}", salt % 28 + 1),
        "time" => format!("00:00:{:02}Z", salt % 60),
        "email" | "idn-email" => format!("mock{}@example.com", suffix(salt)),
        "uri" | "iri" | "uri-reference" | "iri-reference" | "url" => {
            format!("https://example.com/mock{}", suffix(salt))
        }
        "uuid" => format!("00000000-0000-4000-8000-{:012x}", salt),
        "hostname" | "idn-hostname" => format!("mock{}.example.com", suffix(salt)),
        "ipv4" => format!("192.0.2.{}", salt % 256),
        "ipv6" => format!("2001:db8::{:x}", salt % 0x10000),
        "duration" => format!("P{}D", salt + 1),
        "json-pointer" => format!("/mock{}", suffix(salt)),
        _ => return None,
    };
    Some(s)
}

fn suffix(salt: usize) -> String {
    if salt == 0 {
        String::new()
    } else {
        salt.to_string()
    }
}

/// A number inside the schema's bounds: zero when allowed (a multiple of everything), else the
/// bound nearest to zero, nudged inwards for exclusive bounds and onto `multipleOf`.
fn number(schema: &Map<String, Value>, integer: bool, salt: usize) -> Value {
    let lower = bound(schema, "minimum", "exclusiveMinimum", f64::max);
    let upper = bound(schema, "maximum", "exclusiveMaximum", f64::min);
    let step = schema
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0 && (!integer || m.fract() == 0.0));
    let (lo, hi) = if integer {
        (
            lower.map(|(l, ex)| {
                if ex && l.ceil() <= l {
                    l.floor() + 1.0
                } else {
                    l.ceil()
                }
            }),
            upper.map(|(h, ex)| {
                if ex && h.floor() >= h {
                    h.ceil() - 1.0
                } else {
                    h.floor()
                }
            }),
        )
    } else {
        let mid = |l: f64, h: f64| (l + h) / 2.0;
        (
            lower.map(|(l, ex)| match (ex, upper) {
                (false, _) => l,
                (true, Some((h, _))) => mid(l, h),
                (true, None) => l + 1.0,
            }),
            upper.map(|(h, ex)| match (ex, lower) {
                (false, _) => h,
                (true, Some((l, _))) => mid(l, h),
                (true, None) => h - 1.0,
            }),
        )
    };
    let in_range = |x: f64| lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x <= h);
    let mut x = 0.0f64;
    if let Some(l) = lo.filter(|l| x < *l) {
        x = l;
    }
    if let Some(h) = hi.filter(|h| x > *h) {
        x = h;
    }
    if let Some(m) = step {
        let up = (x / m).ceil() * m;
        x = if in_range(up) {
            up
        } else {
            (x / m).floor() * m
        };
    }
    let candidate = x + salt as f64 * step.unwrap_or(1.0);
    if in_range(candidate) {
        x = candidate;
    }
    if integer && x.abs() < 9.0e15 {
        // Within f64's exact integer range the cast is lossless.
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// The tighter of an inclusive and an exclusive bound, as (value, exclusive). Draft 4 spells an
/// exclusive bound as `exclusiveMinimum: true` next to `minimum`.
fn bound(
    schema: &Map<String, Value>,
    inclusive: &str,
    exclusive: &str,
    tighter: fn(f64, f64) -> f64,
) -> Option<(f64, bool)> {
    let inc = schema.get(inclusive).and_then(Value::as_f64);
    match schema.get(exclusive) {
        Some(Value::Bool(true)) => inc.map(|v| (v, true)),
        Some(Value::Number(n)) => {
            let ex = n.as_f64()?;
            match inc {
                Some(v) if tighter(v, ex) == v && v != ex => Some((v, false)),
                _ => Some((ex, true)),
            }
        }
        _ => inc.map(|v| (v, false)),
    }
}

/// A non-negative integer keyword (`minItems`, `maxLength`, ...).
fn count(schema: &Map<String, Value>, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

mod merge;
#[cfg(test)]
mod tests;
