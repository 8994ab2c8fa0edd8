//! Read-only views of a log for people: the command line and the dashboard. A `LogView` is
//! fed the log's bytes in chunks of any size (a file read at once, or a stream that follows a
//! log being written), checks every line as the log itself does, and answers with plain data:
//! the state of each epic and the queue, metrics, and the events one line each.
//!
//! It never writes: an incomplete last line is an append in progress, kept until the rest
//! arrives; a damaged line stops reading there, and the views show the valid part before it.
mod entry;
mod overview;
mod stats;

use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::api::Options;
use crate::event::{Event, Payload};
use crate::log::check_line;
use crate::projection::Swarm;

pub use entry::{describe, Entry, EventFilter, EventPage};
pub use overview::{EpicView, Overview, QueueRow, WorkerRow};
pub use stats::{percentile, Group, Named, Stats};

/// Where a replay stops: after this sequence number, or before the first event later than
/// this time (ms since the epoch). Both absent: the whole log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Until {
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub time: Option<u64>,
}

/// The first damaged line, and why: nothing after it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Damage {
    pub line: u64,
    /// Bytes from the start of the log to the damaged line.
    pub offset: u64,
    pub reason: String,
}

/// What was read so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Health {
    /// Events applied (up to the replay's stop, if any).
    pub events: u64,
    /// Bytes of complete lines read.
    pub bytes: u64,
    /// Bytes of an incomplete last line: an append in progress, or a writer killed mid-line.
    pub partial_bytes: u64,
    pub damage: Option<Damage>,
    /// The replay's stop was reached: later events were read but not applied.
    pub stopped: bool,
    pub first_at: Option<u64>,
    pub last_at: Option<u64>,
}

#[derive(Debug, Default)]
pub struct LogView {
    until: Until,
    /// The limits the queue's reasons are given against (the plugin's, when known).
    options: Options,
    /// The bytes after the last complete line.
    pending: Vec<u8>,
    bytes: u64,
    lines: u64,
    next_seq: u64,
    chain: String,
    swarm: Swarm,
    entries: Vec<Entry>,
    damage: Option<Damage>,
    stopped: bool,
    first_at: Option<u64>,
    last_at: Option<u64>,
}

impl LogView {
    pub fn new(until: Until) -> Self {
        Self {
            until,
            next_seq: 1,
            ..Self::default()
        }
    }

    /// The plugin's options, so that the queue says why each bead waits as the plugin would.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// Reads the next bytes of the log; returns the number of events applied from them.
    pub fn feed(&mut self, chunk: &[u8]) -> u64 {
        if self.damage.is_some() {
            return 0;
        }
        self.pending.extend_from_slice(chunk);
        let mut applied = 0;
        let mut pos = 0;
        while let Some(nl) = self.pending[pos..].iter().position(|&b| b == b'\n') {
            let raw = &self.pending[pos..pos + nl];
            let line_no = self.lines + 1;
            match check_line(self.next_seq, &self.chain, raw) {
                Ok((event, h)) => {
                    self.next_seq = event.seq + 1;
                    self.chain = h;
                    if !self.stopped && self.past_stop(event.seq, event.timestamp) {
                        self.stopped = true;
                    }
                    if !self.stopped {
                        self.record(&event);
                        applied += 1;
                    }
                }
                Err(reason) => {
                    self.damage = Some(Damage {
                        line: line_no,
                        offset: self.bytes,
                        reason,
                    });
                    self.pending.drain(..pos);
                    return applied;
                }
            }
            self.lines = line_no;
            self.bytes += (nl + 1) as u64;
            pos += nl + 1;
        }
        self.pending.drain(..pos);
        applied
    }

    fn past_stop(&self, seq: u64, at: u64) -> bool {
        self.until.seq.is_some_and(|s| seq > s) || self.until.time.is_some_and(|t| at > t)
    }

    fn record(&mut self, event: &Event) {
        self.swarm.apply(event);
        self.first_at.get_or_insert(event.timestamp);
        self.last_at = Some(event.timestamp);
        if let Payload::Known(body) = &event.payload {
            self.entries
                .push(Entry::of(event.seq, event.timestamp, body, &self.swarm));
        }
    }

    pub fn health(&self) -> Health {
        Health {
            events: self.swarm.last_seq(),
            bytes: self.bytes,
            partial_bytes: if self.damage.is_some() {
                0
            } else {
                self.pending.len() as u64
            },
            damage: self.damage.clone(),
            stopped: self.stopped,
            first_at: self.first_at,
            last_at: self.last_at,
        }
    }

    /// The projection as of the last event applied.
    pub fn swarm(&self) -> &Swarm {
        &self.swarm
    }
}
