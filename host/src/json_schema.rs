//! A small JSON Schema checker for the shapes the host asks for: `type`
//! (one or a list, `null` included), `required`, `properties`, `items`,
//! `enum`, `oneOf` / `anyOf` / `allOf`, and local `$ref`s (`#/...`). Used to
//! check a model's JSON answers, and by the tests to hold API responses to
//! the OpenAPI document.

use serde_json::Value;

/// Checks `value` against `schema`; `root` resolves `$ref`s. Returns the
/// first mismatch with its path, e.g. `$.verdict: string where the schema
/// says ["boolean"]`.
pub fn check(root: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    conforms(root, schema, value, "$")
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn conforms(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(root, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            conforms(root, part, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array)
            && !options.iter().any(|o| conforms(root, o, value, at).is_ok())
        {
            return Err(format!("{at}: matches none of the `{key}` alternatives"));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        return Err(format!(
            "{at}: {value} is not one of {}",
            Value::Array(choices.clone())
        ));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let actual = type_name(value);
    let type_ok = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !type_ok {
        return Err(format!("{at}: {actual} where the schema says {types:?}"));
    }
    if let (Some(required), Value::Object(map)) =
        (schema.get("required").and_then(Value::as_array), value)
    {
        for field in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(field) {
                return Err(format!("{at}: required field `{field}` is missing"));
            }
        }
    }
    if let (Some(Value::Object(properties)), Value::Object(map)) = (schema.get("properties"), value)
    {
        for (field, sub) in properties {
            if let Some(v) = map.get(field) {
                conforms(root, sub, v, &format!("{at}.{field}"))?;
            }
        }
    }
    if let (Some(items), Value::Array(list)) = (schema.get("items"), value) {
        for (i, item) in list.iter().enumerate() {
            conforms(root, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    #[test]
    fn checks_types_required_fields_enums_and_refs() {
        let schema = json!({
            "type": "object",
            "required": ["verdict", "confidence"],
            "properties": {
                "verdict": {"enum": ["benign", "malicious"]},
                "confidence": {"type": "number"},
                "evidence": {"type": "array", "items": {"$ref": "#/$defs/item"}}
            },
            "$defs": {"item": {"type": "string"}}
        });
        let good = json!({"verdict": "benign", "confidence": 1, "evidence": ["dns"]});
        assert_eq!(check(&schema, &schema, &good), Ok(()));
        let cases = [
            (json!({"verdict": "benign"}), "required field `confidence`"),
            (
                json!({"verdict": "maybe", "confidence": 0.5}),
                "is not one of",
            ),
            (
                json!({"verdict": "benign", "confidence": "high"}),
                "$.confidence: string",
            ),
            (
                json!({"verdict": "benign", "confidence": 1, "evidence": [3]}),
                "$.evidence[0]",
            ),
            (json!([1]), "array where"),
        ];
        for (value, expected) in cases {
            let err = check(&schema, &schema, &value).expect_err("mismatch");
            assert!(err.contains(expected), "{err}");
        }
    }
}
