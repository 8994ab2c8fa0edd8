//! Apiary's core: non-blocking swarm workers for OpenCode, tracked by an event-sourced log.
//!
//! The core is pure Rust. Everything outside it (OpenCode sessions, the log's storage, the
//! clock) is reached through the traits in [`host`]; the `wasm` module implements them over
//! imported JavaScript functions, and [`testing`] implements them with in-memory fakes.
#![forbid(unsafe_code)]

pub mod api;
pub mod chain;
pub mod error;
pub mod event;
pub mod glob;
pub mod host;
pub mod ids;
mod json;
pub mod log;
pub mod projection;
pub mod prompt;
pub mod schedule;
pub mod swarm;
pub mod testing;
mod text;
pub mod view;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{HostError, LogError, ToolError};
pub use swarm::{Apiary, WriteArgs, WRITE_TOOLS};
