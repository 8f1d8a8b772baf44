//! The `where` of a query: equality filters on document metadata, in the shape Chroma clients
//! send (`{"k": v}`, `{"k": {"$eq": v}}`, `{"k": {"$in": [..]}}`, `{"$and": [..]}`,
//! `{"$or": [..]}`), rendered as SQL with bound parameters only.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value};

use super::CollectionError;

/// Nesting and size bounds, so a request cannot build an arbitrarily large statement.
const MAX_DEPTH: usize = 8;
const MAX_TERMS: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Eq(String, Scalar),
    In(String, Vec<Scalar>),
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

fn invalid(msg: impl Into<String>) -> CollectionError {
    CollectionError::Invalid(msg.into())
}

fn scalar(v: &Value) -> Result<Scalar, CollectionError> {
    Ok(match v {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => Scalar::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Scalar::Text(s.clone()),
        _ => {
            return Err(invalid(
                "where: values must be strings, numbers, booleans or null",
            ))
        }
    })
}

struct Parser {
    terms: usize,
}

impl Parser {
    fn count(&mut self) -> Result<(), CollectionError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(invalid(format!("where: at most {MAX_TERMS} conditions")));
        }
        Ok(())
    }

    fn object(
        &mut self,
        obj: &Map<String, Value>,
        depth: usize,
    ) -> Result<Filter, CollectionError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("where: nested deeper than {MAX_DEPTH}")));
        }
        let mut all = Vec::with_capacity(obj.len());
        for (key, value) in obj {
            all.push(match key.as_str() {
                "$and" | "$or" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| invalid(format!("where: {key} takes a list of filters")))?;
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        let inner = item.as_object().ok_or_else(|| {
                            invalid(format!("where: {key} takes a list of filters"))
                        })?;
                        parts.push(self.object(inner, depth + 1)?);
                    }
                    if key == "$and" {
                        Filter::And(parts)
                    } else {
                        Filter::Or(parts)
                    }
                }
                op if op.starts_with('$') => {
                    return Err(invalid(format!("where: unsupported operator {op}")))
                }
                _ => self.condition(key, value)?,
            });
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn condition(&mut self, key: &str, value: &Value) -> Result<Filter, CollectionError> {
        self.count()?;
        let Value::Object(op) = value else {
            return Ok(Filter::Eq(key.into(), scalar(value)?));
        };
        match op.iter().next() {
            Some((name, v)) if op.len() == 1 && name == "$eq" => {
                Ok(Filter::Eq(key.into(), scalar(v)?))
            }
            Some((name, Value::Array(items))) if op.len() == 1 && name == "$in" => {
                let values = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
                if values.len() > MAX_TERMS {
                    return Err(invalid(format!(
                        "where: $in takes at most {MAX_TERMS} values"
                    )));
                }
                Ok(Filter::In(key.into(), values))
            }
            _ => Err(invalid(format!(
                "where: the filter on {key:?} must be a value, {{\"$eq\": value}} or \
                 {{\"$in\": [values]}}"
            ))),
        }
    }
}

impl Filter {
    /// The filter in `where`, or `None` for no filter (absent, null or `{}`).
    pub fn parse(value: Option<&Value>) -> Result<Option<Filter>, CollectionError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(obj)) if obj.is_empty() => Ok(None),
            Some(Value::Object(obj)) => Parser { terms: 0 }.object(obj, 0).map(Some),
            Some(_) => Err(invalid("where must be an object")),
        }
    }

    /// A SQL condition on the metadata column `column`, pushing its parameters onto `params`
    /// (numbered placeholders are left to the caller: this uses plain `?`).
    pub fn to_sql(&self, column: &str, params: &mut Vec<Sql>) -> String {
        match self {
            Filter::Eq(key, value) => eq_sql(column, key, value, params),
            Filter::In(key, values) => join(
                values
                    .iter()
                    .map(|v| eq_sql(column, key, v, params))
                    .collect(),
                " OR ",
                "0",
            ),
            Filter::And(parts) => join(
                parts.iter().map(|p| p.to_sql(column, params)).collect(),
                " AND ",
                "1",
            ),
            Filter::Or(parts) => join(
                parts.iter().map(|p| p.to_sql(column, params)).collect(),
                " OR ",
                "0",
            ),
        }
    }
}

fn join(parts: Vec<String>, sep: &str, empty: &str) -> String {
    if parts.is_empty() {
        empty.into()
    } else {
        format!("({})", parts.join(sep))
    }
}

/// `json_each` matches the key as stored (no JSON-path quoting to get wrong) and its `type`
/// tells `true` from `1` and `"1"` from `1`.
fn eq_sql(column: &str, key: &str, value: &Scalar, params: &mut Vec<Sql>) -> String {
    params.push(Sql::Text(key.into()));
    let test = match value {
        Scalar::Null => "m.type = 'null'",
        Scalar::Bool(true) => "m.type = 'true'",
        Scalar::Bool(false) => "m.type = 'false'",
        Scalar::Number(n) => {
            params.push(Sql::Real(*n));
            "m.type IN ('integer', 'real') AND m.atom = ?"
        }
        Scalar::Text(s) => {
            params.push(Sql::Text(s.clone()));
            "m.type = 'text' AND m.atom = ?"
        }
    };
    format!("EXISTS (SELECT 1 FROM json_each({column}) m WHERE m.key = ? AND {test})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Option<Filter>, CollectionError> {
        Filter::parse(Some(&v))
    }

    #[test]
    fn shapes_parse() {
        assert_eq!(parse(json!({})).unwrap(), None);
        assert_eq!(Filter::parse(None).unwrap(), None);
        assert_eq!(
            parse(json!({"a": "x"})).unwrap(),
            Some(Filter::Eq("a".into(), Scalar::Text("x".into())))
        );
        assert_eq!(
            parse(json!({"a": {"$eq": 2}, "b": true})).unwrap(),
            Some(Filter::And(vec![
                Filter::Eq("a".into(), Scalar::Number(2.0)),
                Filter::Eq("b".into(), Scalar::Bool(true)),
            ]))
        );
        assert!(matches!(
            parse(json!({"$or": [{"a": 1}, {"a": {"$in": [2, 3]}}]})).unwrap(),
            Some(Filter::Or(_))
        ));
    }

    #[test]
    fn bad_shapes_are_invalid_not_sql() {
        for bad in [
            json!([1]),
            json!({"a": [1]}),
            json!({"a": {"$gt": 1}}),
            json!({"$not": {}}),
            json!({"$and": {"a": 1}}),
            json!({"a": {"b": 1}}),
        ] {
            assert!(
                matches!(parse(bad.clone()), Err(CollectionError::Invalid(_))),
                "{bad}"
            );
        }
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(parse(Value::Object(many)).is_err());
        let mut deep = json!({"a": 1});
        for _ in 0..10 {
            deep = json!({"$and": [deep]});
        }
        assert!(parse(deep).is_err());
    }

    #[test]
    fn sql_binds_every_value() {
        let f = parse(json!({"a": "x'; DROP TABLE t; --", "b": null}))
            .unwrap()
            .unwrap();
        let mut params = Vec::new();
        let sql = f.to_sql("d.metadata", &mut params);
        assert!(!sql.contains("DROP"), "{sql}");
        assert_eq!(params.len(), 3);
        assert_eq!(sql.matches('?').count(), 3);
    }
}
