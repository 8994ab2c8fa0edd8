//! The event log: JSON lines in a byte store, folded into the swarm projection.
//!
//! Writers take the store's lock, catch up with whatever other writers appended, number their
//! events after the last one, append, and release. Readers catch up without the lock and only
//! take complete lines, so they never see half an event. Ingestion skips sequence numbers it
//! has already applied, which makes concurrent catch-ups within one instance harmless.
use std::cell::{Ref, RefCell};

use crate::error::LogError;
use crate::event::{self, Event, EventBody};
use crate::host::Storage;
use crate::projection::Swarm;

#[derive(Debug, Default)]
struct LogState {
    /// Bytes of the store consumed so far (always the end of a complete line).
    offset: u64,
    /// Complete lines consumed so far, for error messages that name a line.
    lines: u64,
    next_seq: u64,
    swarm: Swarm,
    /// A torn last line that was cut off on recovery, reported once.
    recovered_bytes: u64,
}

#[derive(Debug)]
pub struct EventLog {
    state: RefCell<LogState>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl EventLog {
    pub fn new() -> Self {
        Self {
            state: RefCell::new(LogState {
                next_seq: 1,
                ..LogState::default()
            }),
        }
    }

    /// The projection as of the last catch-up.
    pub fn swarm(&self) -> Ref<'_, Swarm> {
        Ref::map(self.state.borrow(), |s| &s.swarm)
    }

    /// Bytes of a torn last line cut off when a writer found one (0 if none).
    pub fn recovered_bytes(&self) -> u64 {
        self.state.borrow().recovered_bytes
    }

    /// Reads and applies whatever was appended since the last catch-up.
    pub async fn refresh(&self, store: &impl Storage) -> Result<(), LogError> {
        let start = self.state.borrow().offset;
        let bytes = store.read_from(start).await?;
        self.ingest(start, &bytes)?;
        Ok(())
    }

    /// Appends events as one durable write and applies them; returns them numbered.
    pub async fn append(
        &self,
        store: &impl Storage,
        timestamp: u64,
        bodies: &[EventBody],
    ) -> Result<Vec<Event>, LogError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        self.append_with(store, timestamp, |_| bodies.to_vec())
            .await
    }

    /// Check-then-append as one step: `decide` sees the projection caught up under the write
    /// lock, so what it decides cannot be overtaken by another writer (an observation that
    /// another instance already recorded is not recorded twice).
    pub async fn append_with(
        &self,
        store: &impl Storage,
        timestamp: u64,
        decide: impl FnOnce(&Swarm) -> Vec<EventBody>,
    ) -> Result<Vec<Event>, LogError> {
        store.lock().await?;
        let result = self.append_locked(store, timestamp, decide).await;
        let unlocked = store.unlock().await;
        let events = result?;
        unlocked?;
        Ok(events)
    }

    async fn append_locked(
        &self,
        store: &impl Storage,
        timestamp: u64,
        decide: impl FnOnce(&Swarm) -> Vec<EventBody>,
    ) -> Result<Vec<Event>, LogError> {
        let start = self.state.borrow().offset;
        let bytes = store.read_from(start).await?;
        let torn = self.ingest(start, &bytes)?;
        if torn > 0 {
            // We hold the lock, so no writer is mid-line: the tail is what a crashed writer
            // left. Cut it off so our lines do not glue onto it.
            let end = self.state.borrow().offset;
            store.truncate(end).await?;
            self.state.borrow_mut().recovered_bytes += torn;
        }
        let bodies = decide(&self.state.borrow().swarm);
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let (first_seq, offset) = {
            let s = self.state.borrow();
            (s.next_seq, s.offset)
        };
        let mut text = String::new();
        for (i, body) in bodies.iter().enumerate() {
            let line =
                event::encode(first_seq + i as u64, timestamp, body).map_err(LogError::Encode)?;
            text.push_str(&line);
            text.push('\n');
        }
        store.append(text.as_bytes()).await?;
        self.ingest(offset, text.as_bytes())?;
        Ok(bodies
            .iter()
            .enumerate()
            .map(|(i, body)| Event {
                seq: first_seq + i as u64,
                version: event::SCHEMA_VERSION,
                timestamp,
                payload: event::Payload::Known(body.clone()),
            })
            .collect())
    }

    /// Applies the complete lines of `bytes` (which start at byte `start` of the store) that
    /// are new. Returns the length of an incomplete last line, left for a later catch-up.
    fn ingest(&self, start: u64, bytes: &[u8]) -> Result<u64, LogError> {
        let mut state = self.state.borrow_mut();
        if start + (bytes.len() as u64) <= state.offset {
            return Ok(0);
        }
        // Skip what a concurrent catch-up of this instance already consumed.
        let skip = state.offset.saturating_sub(start) as usize;
        let bytes = &bytes[skip..];
        let mut pos = 0;
        while let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') {
            let line_no = state.lines + 1;
            let raw = &bytes[pos..pos + nl];
            let line = std::str::from_utf8(raw).map_err(|_| LogError::Corrupt {
                line: line_no,
                reason: "not UTF-8".into(),
            })?;
            let event = event::decode(line).map_err(|reason| LogError::Corrupt {
                line: line_no,
                reason,
            })?;
            if event.seq >= state.next_seq {
                if event.seq != state.next_seq {
                    return Err(LogError::Corrupt {
                        line: line_no,
                        reason: format!(
                            "sequence jumps from {} to {}",
                            state.next_seq - 1,
                            event.seq
                        ),
                    });
                }
                state.swarm.apply(&event);
                state.next_seq = event.seq + 1;
            }
            pos += nl + 1;
            state.lines = line_no;
            state.offset += (nl + 1) as u64;
        }
        Ok((bytes.len() - pos) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::WorkerObserved;
    use crate::testing::{block_on, MemoryStore};

    fn started(session: &str) -> EventBody {
        EventBody::WorkerStarted(WorkerObserved {
            session_id: session.into(),
            bead_id: "b".into(),
        })
    }

    #[test]
    fn appended_events_are_numbered_from_one_and_read_back_by_another_reader() {
        let store = MemoryStore::default();
        let writer = EventLog::new();
        let events = block_on(writer.append(&store, 10, &[started("a"), started("b")])).unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        let reader = EventLog::new();
        block_on(reader.refresh(&store)).unwrap();
        assert_eq!(reader.swarm().last_seq(), 2);
    }

    #[test]
    fn two_writers_on_one_store_never_reuse_a_sequence_number() {
        let store = MemoryStore::default();
        let (a, b) = (EventLog::new(), EventLog::new());
        block_on(a.append(&store, 1, &[started("x")])).unwrap();
        block_on(b.append(&store, 2, &[started("y")])).unwrap();
        block_on(a.append(&store, 3, &[started("z")])).unwrap();
        let text = store.text();
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| event::decode(l).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn an_incomplete_last_line_is_left_for_later_by_readers() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.push_raw(b"{\"seq\":2,\"v\":1");
        let reader = EventLog::new();
        block_on(reader.refresh(&store)).unwrap();
        assert_eq!(reader.swarm().last_seq(), 1);
    }

    #[test]
    fn a_writer_cuts_off_a_torn_last_line_before_appending() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.push_raw(b"{\"seq\":2,\"v\":1,\"tim");
        let writer = EventLog::new();
        let events = block_on(writer.append(&store, 2, &[started("y")])).unwrap();
        assert_eq!(events[0].seq, 2);
        assert_eq!(writer.recovered_bytes(), 19);
        assert_eq!(store.text().lines().count(), 2);
    }

    #[test]
    fn a_damaged_line_is_reported_with_its_line_number() {
        let store = MemoryStore::default();
        block_on(EventLog::new().append(&store, 1, &[started("x")])).unwrap();
        store.push_raw(b"not json\n");
        let err = block_on(EventLog::new().refresh(&store)).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { line: 2, .. }), "{err}");
    }

    #[test]
    fn a_gap_in_sequence_numbers_is_reported() {
        let store = MemoryStore::default();
        store.push_raw(
            b"{\"seq\":1,\"v\":1,\"timestamp\":1,\"type\":\"x\"}\n{\"seq\":3,\"v\":1,\"timestamp\":1,\"type\":\"x\"}\n",
        );
        let err = block_on(EventLog::new().refresh(&store)).unwrap_err();
        assert!(
            err.to_string()
                .contains("line 2: sequence jumps from 1 to 3"),
            "{err}"
        );
    }

    #[test]
    fn catching_up_twice_from_the_same_offset_applies_each_event_once() {
        let store = MemoryStore::default();
        let writer = EventLog::new();
        block_on(writer.append(&store, 1, &[started("x"), started("y")])).unwrap();
        let reader = EventLog::new();
        let bytes = store.text().into_bytes();
        reader.ingest(0, &bytes).unwrap();
        reader.ingest(0, &bytes).unwrap();
        assert_eq!(reader.swarm().last_seq(), 2);
        assert_eq!(reader.state.borrow().next_seq, 3);
    }
}
