//! OpenAI requests as `/api/chat` bodies, and `/api/chat` answers as OpenAI objects.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::chat::{completion_id, now, ChatRequest};

/// The `/api/chat` body for an OpenAI request.
pub fn chat_body(req: &ChatRequest) -> Value {
    let mut body = json!({
        "model": req.model,
        "messages": messages(req.messages()),
        "stream": req.stream,
    });
    let mut options = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("seed", "seed"),
        ("frequency_penalty", "frequency_penalty"),
        ("presence_penalty", "presence_penalty"),
        ("max_tokens", "num_predict"),
        ("max_completion_tokens", "num_predict"),
    ] {
        if let Some(v) = req.get(from) {
            options.insert(to.into(), v.clone());
        }
    }
    match req.get("stop") {
        Some(Value::String(s)) => {
            options.insert("stop".into(), json!([s]));
        }
        Some(list @ Value::Array(_)) => {
            options.insert("stop".into(), list.clone());
        }
        _ => {}
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    // Ollama has no tool_choice: "none" means no tools offered; anything else offers them.
    let no_tools = req.get("tool_choice").and_then(Value::as_str) == Some("none");
    if let (Some(tools), false) = (req.get("tools"), no_tools) {
        body["tools"] = tools.clone();
    }
    match req.get("response_format") {
        Some(f) if f["type"] == "json_object" => body["format"] = json!("json"),
        Some(f) if f["type"] == "json_schema" => {
            body["format"] = f["json_schema"]["schema"].clone();
        }
        _ => {}
    }
    body
}

/// OpenAI messages as Ollama's: text parts joined, data-URL images as base64, tool calls with
/// object arguments, tool results named after the call they answer.
fn messages(list: &[Value]) -> Vec<Value> {
    let mut tool_names: HashMap<String, String> = HashMap::new();
    list.iter()
        .map(|m| {
            let role = match m["role"].as_str().unwrap_or("user") {
                "developer" => "system",
                other => other,
            };
            let mut out = json!({ "role": role });
            let (text, images) = content(&m["content"]);
            out["content"] = Value::String(text);
            if !images.is_empty() {
                out["images"] = json!(images);
            }
            if let Some(calls) = m["tool_calls"].as_array() {
                out["tool_calls"] = calls
                    .iter()
                    .map(|c| {
                        let f = &c["function"];
                        if let (Some(id), Some(name)) = (c["id"].as_str(), f["name"].as_str()) {
                            tool_names.insert(id.into(), name.into());
                        }
                        let args = match &f["arguments"] {
                            Value::String(s) => serde_json::from_str(s).unwrap_or(json!({})),
                            other => other.clone(),
                        };
                        json!({"function": {"name": f["name"], "arguments": args}})
                    })
                    .collect();
            }
            if role == "tool" {
                let name = m["tool_call_id"]
                    .as_str()
                    .and_then(|id| tool_names.get(id).cloned())
                    .or_else(|| m["name"].as_str().map(str::to_owned));
                if let Some(name) = name {
                    out["tool_name"] = Value::String(name);
                }
            }
            out
        })
        .collect()
}

/// A message's text and its inline images.
fn content(content: &Value) -> (String, Vec<String>) {
    match content {
        Value::String(s) => (s.clone(), Vec::new()),
        Value::Array(parts) => {
            let mut text = Vec::new();
            let mut images = Vec::new();
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => text.push(p["text"].as_str().unwrap_or_default()),
                    Some("image_url") => {
                        let url = p["image_url"]["url"]
                            .as_str()
                            .or_else(|| p["image_url"].as_str())
                            .unwrap_or_default();
                        if let Some((_, data)) = url.split_once(";base64,") {
                            images.push(data.to_owned());
                        }
                    }
                    _ => {}
                }
            }
            (text.join("\n"), images)
        }
        _ => (String::new(), Vec::new()),
    }
}

/// Ollama's tool calls as OpenAI's (arguments as a JSON string, an id each).
pub(super) fn tool_calls(calls: &[Value], first_index: usize, with_index: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = &c["function"];
            let args = match &f["arguments"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let id = c["id"].as_str().map(str::to_owned).unwrap_or_else(|| {
                format!("call_{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
            });
            let mut call = json!({
                "id": id,
                "type": "function",
                "function": {"name": f["name"], "arguments": args},
            });
            if with_index {
                call["index"] = json!(first_index + i);
            }
            call
        })
        .collect()
}

pub(super) fn finish_reason(answer: &Value, had_tools: bool) -> &'static str {
    if had_tools {
        "tool_calls"
    } else if answer["done_reason"] == "length" {
        "length"
    } else {
        "stop"
    }
}

pub(super) fn usage(answer: &Value) -> Option<Value> {
    let prompt = answer["prompt_eval_count"].as_u64();
    let completion = answer["eval_count"].as_u64();
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let (p, c) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    Some(json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
}

/// A whole `/api/chat` answer as a `chat.completion`.
pub fn completion(model: &str, answer: &Value) -> Value {
    let msg = &answer["message"];
    let calls = msg["tool_calls"].as_array().filter(|c| !c.is_empty());
    let mut message = json!({
        "role": "assistant",
        "content": msg["content"].as_str().unwrap_or_default(),
    });
    if let Some(calls) = calls {
        message["tool_calls"] = json!(tool_calls(calls, 0, false));
    }
    let mut out = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(answer, calls.is_some()),
        }],
    });
    if let Some(usage) = usage(answer) {
        out["usage"] = usage;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes(), "m").unwrap()
    }

    #[test]
    fn requests_translate_options_images_and_tools() {
        let req = request(json!({
            "model": "llama3.2",
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 7, "stop": "END", "seed": 3,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "f", "arguments": "{\"x\":1}"}},
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
        }));
        let body = chat_body(&req);
        assert_eq!(body["stream"], false);
        assert_eq!(
            body["options"],
            json!({"temperature": 0.2, "top_p": 0.9, "num_predict": 7, "stop": ["END"], "seed": 3})
        );
        assert_eq!(body["tools"][0]["function"]["name"], "f");
        let m = &body["messages"];
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(m[1]["images"], json!(["QUJD"]));
        assert_eq!(m[1]["content"], "what is");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            json!({"x": 1})
        );
        assert_eq!(m[3]["tool_name"], "f");
    }

    #[test]
    fn answers_become_completions() {
        let answer = json!({
            "message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "f", "arguments": {"x": 1}}},
            ]},
            "done": true, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4,
        });
        let c = completion("m", &answer);
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        let call = &c["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"x\":1}");
        assert_eq!(call["type"], "function");
        assert_eq!(c["usage"]["total_tokens"], 7);
    }
}
