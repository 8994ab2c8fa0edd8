//! The wasm32 build: `ApiaryCore` for JavaScript, over a host object JavaScript provides.
mod exports;
mod host;
mod json;
mod view;

pub use exports::ApiaryCore;
pub use host::JsHost;
pub use view::LogView;
