//! `LogView`, for the command line and the dashboard: a log read in chunks (a file, or a
//! stream following it) and the views of it, computed here so that every reader agrees.
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::exports::{read_options, reply};
use super::json;
use crate::api::Options;
use crate::view::{self, EventFilter, EventPage, Health, Overview, Stats, Until};

#[wasm_bindgen]
pub struct LogView {
    inner: view::LogView,
}

#[wasm_bindgen]
impl LogView {
    /// `until` stops a replay after a sequence number or before the first event later than a
    /// time; undefined reads the whole log.
    #[wasm_bindgen(constructor)]
    pub fn new(until: Option<Ts<Until>>) -> Result<LogView, JsError> {
        let until = match until {
            Some(u) => json::from_js(&u.js_value())
                .map_err(|e| JsError::new(&format!("invalid replay point: {e}")))?,
            None => Until::default(),
        };
        Ok(LogView {
            inner: view::LogView::new(until),
        })
    }

    /// The plugin's options (as in `.opencode/apiary.json`), so that the queue says why each
    /// bead waits against the same limits; refused by name when invalid.
    #[wasm_bindgen(js_name = setOptions)]
    pub fn set_options(&mut self, options: Ts<Options>) -> Result<(), JsError> {
        let options = read_options(options)?;
        options
            .check()
            .map_err(|e| JsError::new(&format!("invalid options: {e}")))?;
        self.inner.set_options(options);
        Ok(())
    }

    /// Reads the next bytes of the log; returns the number of events applied from them.
    pub fn feed(&mut self, chunk: &[u8]) -> f64 {
        self.inner.feed(chunk) as f64
    }

    pub fn health(&self) -> Result<Ts<Health>, JsError> {
        reply(&self.inner.health())
    }

    /// Epics with their workers and queues; `now` (ms) measures what still runs.
    pub fn overview(&self, now: f64) -> Result<Ts<Overview>, JsError> {
        reply(&self.inner.overview(now as u64))
    }

    pub fn stats(&self, now: f64) -> Result<Ts<Stats>, JsError> {
        reply(&self.inner.stats(now as u64))
    }

    pub fn events(&self, filter: Option<Ts<EventFilter>>) -> Result<Ts<EventPage>, JsError> {
        let filter: EventFilter = match filter {
            Some(f) => json::from_js(&f.js_value())
                .map_err(|e| JsError::new(&format!("invalid event filter: {e}")))?,
            None => EventFilter::default(),
        };
        reply(&self.inner.events(&filter).map_err(|e| JsError::new(&e))?)
    }
}
