//! Arbitrary bytes through the log's reading path: the line decoder, the chain check, and a
//! whole catch-up over a store holding those bytes. None of it may panic; damage must be
//! reported, never ignored.
#![no_main]

use apiary::log::EventLog;
use apiary::testing::{block_on, MemoryStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = apiary::event::decode(line);
        let _ = apiary::chain::verify("", line, true);
    }
    let store = MemoryStore::default();
    store.set_raw(data);
    let log = EventLog::new();
    block_on(log.refresh(&store)).expect("a catch-up reports damage, it does not fail");
    // A complete first line is read as an event or reported as damage, never passed over.
    let health = log.health();
    if data.contains(&b'\n') && health.events == 0 && health.damage.is_none() {
        panic!("a complete line was neither an event nor damage");
    }
});
