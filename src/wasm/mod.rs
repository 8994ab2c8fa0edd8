//! The wasm32 build: `ApiaryCore` for JavaScript, over a host object JavaScript provides.
mod exports;
mod host;
mod json;

pub use exports::ApiaryCore;
pub use host::JsHost;
