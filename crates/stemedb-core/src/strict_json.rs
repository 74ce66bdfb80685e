//! Parsing wire JSON that refuses a repeated key in any object, at any depth: with duplicates,
//! one reader takes the first and another the last, so the same bytes would be two records.
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::{CoreError, ValidationError};

/// One step of the path to a repeated key.
enum Step {
    Key(String),
    Index(usize),
}

/// Set when a repeated key is found: the steps from that key up to the root, innermost first.
/// Parsing stops at the first repeated key; on the way out each enclosing level adds its step.
type Found = RefCell<Option<Vec<Step>>>;

/// Parses JSON text like `serde_json::from_slice::<Value>`, but a repeated key is refused as
/// a [`ValidationError`] with rule `duplicate_key` and the key's path as the field
/// (`value.dose`, `value[1].x`, or `subject` at the top level). Keys are compared after
/// unescaping, so `"a"` and `"\u0061"` are the same key.
pub fn parse_json_strict(bytes: &[u8]) -> Result<Value, CoreError> {
    let found: Found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict(&found)
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    match (parsed, found.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(steps)) => Err(duplicate(&steps).into()),
        (Err(e), None) => Err(CoreError::MalformedJson(e.to_string())),
    }
}

fn duplicate(steps: &[Step]) -> ValidationError {
    let mut path = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(k) if path.is_empty() => path.push_str(k),
            Step::Key(k) => {
                path.push('.');
                path.push_str(k);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    let key = match steps.first() {
        Some(Step::Key(k)) => k.as_str(),
        _ => "",
    };
    let path = if path.is_empty() {
        "$".to_owned()
    } else {
        path
    };
    ValidationError::new(
        path,
        "duplicate_key",
        format!("key {key:?} appears more than once in one object; each key may appear once"),
    )
}

/// Adds one step to the path of a repeated key found below it.
fn on_the_way_out(found: &Found, step: impl FnOnce() -> Step) {
    if let Some(steps) = found.borrow_mut().as_mut() {
        steps.push(step());
    }
}

#[derive(Clone, Copy)]
struct Strict<'a>(&'a Found);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(e) => {
                    on_the_way_out(self.0, || Step::Index(items.len()));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let message = format!("duplicate key {key:?}");
                *self.0.borrow_mut() = Some(vec![Step::Key(key)]);
                return Err(de::Error::custom(message));
            }
            match access.next_value_seed(self) {
                Ok(value) => {
                    map.insert(key, value);
                }
                Err(e) => {
                    on_the_way_out(self.0, || Step::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `Ok(None)`: parses to what serde_json parses; `Ok(Some(field))`: duplicate at `field`;
    /// `Err(())`: malformed, as serde_json says.
    fn check(text: &str, want: Result<Option<&str>, ()>) {
        let got = parse_json_strict(text.as_bytes());
        match (got, want) {
            (Ok(v), Ok(None)) => {
                assert_eq!(v, serde_json::from_str::<Value>(text).unwrap(), "{text}")
            }
            (Err(CoreError::Invalid(v)), Ok(Some(field))) => {
                assert_eq!(
                    (v.field.as_str(), v.rule),
                    (field, "duplicate_key"),
                    "{text}"
                )
            }
            (Err(CoreError::MalformedJson(_)), Err(())) => {
                assert!(serde_json::from_str::<Value>(text).is_err(), "{text}")
            }
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn repeated_keys_are_refused_at_their_path() {
        for (text, want) in [
            (
                r#"{"a":1,"b":[1.5,-2,1e300,"x",null,true,{}],"c":{"d":{}}}"#,
                Ok(None),
            ),
            (r#"{"a":{"b":1},"c":{"b":2}}"#, Ok(None)),
            (r#"{"a":1,"a":1}"#, Ok(Some("a"))),
            (r#"{"a":{"b":[0,{"c":1,"c":2}]}}"#, Ok(Some("a.b[1].c"))),
            (r#"[{"x":1},{"y":1,"y":2}]"#, Ok(Some("[1].y"))),
            (r#"{"a":1,"\u0061":2}"#, Ok(Some("a"))),
            (r#"{"a":{"k":1,"k":2},"a":3}"#, Ok(Some("a.k"))),
            (r#"{"a":1} x"#, Err(())),
            (r#"{"a":1,"a":2"#, Ok(Some("a"))),
            (r#"{"a":"\ud800"}"#, Err(())),
            ("", Err(())),
        ] {
            check(text, want);
        }
    }
}
