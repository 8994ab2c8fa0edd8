//! JS values to and from Rust through JSON text: `JSON.stringify` in JavaScript, then the
//! core's own reader (`crate::json`), which the log's lines use too.
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::json::{FromJson, JsonError};

/// `JSON.stringify(value)`; `undefined` (no value) becomes `null`.
pub fn stringify(value: &JsValue) -> Result<String, String> {
    if value.is_undefined() {
        return Ok("null".into());
    }
    js_sys::JSON::stringify(value)
        .map(String::from)
        .map_err(|_| "the value cannot be written as JSON".to_string())
}

/// A JS value read as `T`; the error names the field that is wrong, and how.
pub fn from_js<T: FromJson>(value: &JsValue) -> Result<T, JsonError> {
    let text = stringify(value).map_err(JsonError::new)?;
    T::from_json(&crate::json::parse(&text).map_err(JsonError::new)?)
}

pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, String> {
    let text = serde_json::to_string(value).map_err(plain)?;
    js_sys::JSON::parse(&text).map_err(|_| "the reply is not valid JSON".to_string())
}

/// serde_json's message without its " at line 1 column N" suffix, which means nothing to a
/// caller who passed an object, not text.
pub fn plain(e: serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
