//! Arbitrary bytes through the log's reading path: the line decoder, the chain check, a whole
//! catch-up over a store holding those bytes, and the views' reading of the same bytes in
//! chunks. None of it may panic; damage must be reported, never ignored, and the log and the
//! views must agree on it.
#![no_main]

use apiary::log::EventLog;
use apiary::testing::{block_on, MemoryStore};
use apiary::view::{LogView, Until};
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
    // The views read with the same reader, in chunks of any size (the first byte picks one).
    let size = data.first().map_or(1, |&b| usize::from(b % 16) + 1);
    let mut view = LogView::new(Until::default());
    for chunk in data.chunks(size) {
        view.feed(chunk);
    }
    let seen = view.health();
    assert_eq!(
        seen.events, health.events,
        "the log and the view read other events"
    );
    match &seen.damage {
        Some(d) => assert_eq!(
            health.damage,
            Some(format!("event log line {}: {}", d.line, d.reason)),
            "the log and the view disagree on damage"
        ),
        // The log alone also judges an incomplete last line (the view waits for its rest).
        None => assert!(
            health.damage.is_none() || seen.partial_bytes > 0,
            "damage the view did not see: {:?}",
            health.damage
        ),
    }
});
