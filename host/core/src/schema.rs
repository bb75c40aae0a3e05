//! JSON Schema checks (a skill's `parameters`, the model's JSON answers),
//! on the `jsonschema` crate: draft 2020-12 unless the schema names another
//! with `$schema`, every keyword checked, and only references inside the
//! schema itself resolved (nothing is fetched).

use serde_json::Value;

/// A compiled schema.
pub struct Schema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Compiles `schema`; the error says why it is not a usable schema (not
    /// valid for its draft, or a `$ref` that does not resolve inside it).
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema)
            .map(|validator| Self { validator })
            .map_err(|err| err.to_string())
    }

    /// Every way `value` departs from the schema, each as `place: problem`
    /// (`place` is the JSON pointer, empty at the root).
    pub fn problems(&self, value: &Value) -> Vec<Problem> {
        self.validator
            .iter_errors(value)
            .map(Problem::from)
            .collect()
    }

    /// The first way `value` departs from the schema, as one line (the
    /// rest are not looked for).
    pub fn check(&self, value: &Value) -> Result<(), String> {
        match self.validator.iter_errors(value).next() {
            None => Ok(()),
            Some(err) => Err(Problem::from(err).to_string()),
        }
    }
}

/// One mismatch: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer of the offending value (`/hours`, `/hosts/2`; empty for
    /// the whole value).
    pub pointer: String,
    /// What is wrong, e.g. `30 is greater than the maximum of 24`.
    pub message: String,
}

impl From<jsonschema::ValidationError<'_>> for Problem {
    fn from(err: jsonschema::ValidationError<'_>) -> Self {
        Self {
            pointer: err.instance_path().to_string(),
            message: err.to_string(),
        }
    }
}

impl Problem {
    /// The place as dotted path (`hours`, `hosts[2]`), empty at the root.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for part in self.pointer.split('/').skip(1) {
            let part = part.replace("~1", "/").replace("~0", "~");
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                path.push_str(&format!("[{part}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&part);
            }
        }
        path
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path().as_str() {
            "" => f.write_str(&self.message),
            path => write!(f, "`{path}`: {}", self.message),
        }
    }
}

/// Fills in the `default` of every top-level property `value` lacks, as the
/// schema declares them (a skill then reads one set of values, whoever
/// called it).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return;
    };
    for (name, property) in properties {
        if let Some(default) = property.get("default")
            && !object.contains_key(name)
        {
            object.insert(name.clone(), default.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_keyword_counts_not_only_types() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {
                "hours": {"type": "integer", "minimum": 1, "maximum": 24},
                "ip": {"type": "string", "pattern": "^[0-9.]+$"}
            },
            "required": ["ip"],
            "additionalProperties": false
        }))
        .expect("schema");
        assert_eq!(schema.check(&json!({"ip": "10.0.0.1", "hours": 6})), Ok(()));
        let cases = [
            (json!({"ip": "10.0.0.1", "hours": 30}), "`hours`"),
            (json!({"ip": "ten"}), "`ip`"),
            (json!({"ip": "10.0.0.1", "extra": 1}), "extra"),
            (json!({"hours": 2}), "ip"),
        ];
        for (value, says) in cases {
            let err = schema.check(&value).expect_err("mismatch");
            assert!(err.contains(says), "{value}: {err}");
        }
    }

    #[test]
    fn a_reference_that_does_not_resolve_is_refused_when_compiling() {
        assert!(Schema::compile(&json!({"$ref": "#/$defs/missing"})).is_err());
        assert!(Schema::compile(&json!({"$ref": "https://example.com/schema.json"})).is_err());
        assert!(Schema::compile(&json!({"type": "no-such-type"})).is_err());
        let local = Schema::compile(&json!({
            "$defs": {"port": {"type": "integer", "maximum": 65535}},
            "properties": {"port": {"$ref": "#/$defs/port"}}
        }))
        .expect("local refs resolve");
        assert!(local.check(&json!({"port": 70000})).is_err());
    }

    #[test]
    fn paths_read_as_dotted_names() {
        let problem = Problem {
            pointer: "/hosts/2/name".into(),
            message: "bad".into(),
        };
        assert_eq!(problem.path(), "hosts[2].name");
        assert_eq!(problem.to_string(), "`hosts[2].name`: bad");
    }

    #[test]
    fn defaults_fill_what_is_missing_only() {
        let schema = json!({"properties": {"hours": {"default": 24}, "name": {"default": "x"}}});
        let mut value = json!({"name": "given"});
        apply_defaults(&schema, &mut value);
        assert_eq!(value, json!({"name": "given", "hours": 24}));
    }
}
