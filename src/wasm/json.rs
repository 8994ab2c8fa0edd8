//! JS values to and from Rust through JSON text: `JSON.stringify` in JavaScript, then the
//! core's own reader (`crate::json`), which the log's lines use too.
use wasm_bindgen::JsValue;

use crate::json::{FromJson, JsonError, ToJson};

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

pub fn to_js<T: ToJson>(value: &T) -> Result<JsValue, String> {
    let mut text = String::new();
    value.write(&mut text);
    js_sys::JSON::parse(&text).map_err(|_| "the reply is not valid JSON".to_string())
}
