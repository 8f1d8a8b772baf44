//! The body of `POST /v1/chat/completions`, checked once: kept as a JSON object so the
//! OpenAI-compatible provider receives every field the client sent.

use serde_json::{Map, Value};

use super::OpenAiError;

#[derive(Debug)]
pub struct ChatRequest {
    /// The whole body, with `model` filled in.
    pub body: Map<String, Value>,
    pub model: String,
    /// OpenAI's default: `false`.
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
}

impl ChatRequest {
    /// Parses and checks `bytes`; `default_model` stands in when the request names none.
    pub fn parse(bytes: &[u8], default_model: &str) -> Result<ChatRequest, OpenAiError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| OpenAiError::invalid("body", format!("Invalid JSON body: {e}")))?;
        let Value::Object(mut body) = value else {
            return Err(OpenAiError::invalid(
                "body",
                "The request body must be a JSON object",
            ));
        };
        check_messages(body.get("messages"))?;
        let model = match body.get("model") {
            None | Some(Value::Null) => default_model.to_owned(),
            Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
            Some(_) => {
                return Err(OpenAiError::invalid(
                    "model",
                    "model must be a non-empty string",
                ))
            }
        };
        body.insert("model".into(), Value::String(model.clone()));
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(OpenAiError::invalid("stream", "stream must be a boolean")),
        };
        let include_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(ChatRequest {
            body,
            model,
            stream,
            include_usage,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.body.get(key).filter(|v| !v.is_null())
    }

    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

fn check_messages(messages: Option<&Value>) -> Result<(), OpenAiError> {
    let list = match messages {
        None | Some(Value::Null) => {
            return Err(OpenAiError::invalid(
                "messages",
                "Missing required parameter: 'messages'",
            ))
        }
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(OpenAiError::invalid(
                "messages",
                "messages must be an array",
            ))
        }
    };
    if list.is_empty() {
        return Err(OpenAiError::invalid(
            "messages",
            "messages must contain at least one message",
        ));
    }
    for (i, m) in list.iter().enumerate() {
        if !m.get("role").is_some_and(Value::is_string) {
            return Err(OpenAiError::invalid(
                &format!("messages[{i}].role"),
                format!("messages[{i}] must be an object with a string 'role'"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ChatRequest, OpenAiError> {
        ChatRequest::parse(body.as_bytes(), "llama3.2:latest")
    }

    #[test]
    fn defaults_and_checks() {
        let r = parse(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert_eq!(r.model, "llama3.2:latest");
        assert!(!r.stream && !r.include_usage);
        assert_eq!(r.body["model"], "llama3.2:latest");
        let r = parse(
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(r.stream && r.include_usage);
        for bad in [
            r#"{}"#,
            r#"{"messages":[]}"#,
            r#"{"messages":"hi"}"#,
            r#"{"messages":[{"content":"x"}]}"#,
            r#"{"model":3,"messages":[{"role":"user"}]}"#,
            r#"[1]"#,
            r#"{"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(e.kind, "invalid_request_error");
        }
    }
}
