//! Read-only views of a log for people: the command line and the dashboard. A `LogView` is
//! fed the log's bytes in chunks of any size (a file read at once, or a stream that follows a
//! log being written), checks every line with the reader the log itself uses, and answers with
//! plain data: the state of each epic and the queue, metrics, and the events one line each.
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
use crate::json::json_fields;
use crate::log::LineReader;
use crate::projection::Swarm;

pub use crate::log::Damage;

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

json_fields!(Until {
    opt seq,
    opt time,
});

impl Until {
    /// Whether `event` comes after the stop.
    fn passed(&self, event: &Event) -> bool {
        self.seq.is_some_and(|s| event.seq > s) || self.time.is_some_and(|t| event.timestamp > t)
    }
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

json_fields!(write Health {
    req events,
    req bytes,
    req partial_bytes,
    def damage,
    req stopped,
    def first_at,
    def last_at,
});

#[derive(Debug, Default)]
pub struct LogView {
    until: Until,
    /// The limits the queue's reasons are given against (the plugin's, when known).
    options: Options,
    /// Where reading stands, the bytes after the last complete line, and damage.
    reader: LineReader,
    swarm: Swarm,
    entries: Vec<Entry>,
    stopped: bool,
    first_at: Option<u64>,
    last_at: Option<u64>,
}

impl LogView {
    pub fn new(until: Until) -> Self {
        Self {
            until,
            ..Self::default()
        }
    }

    /// The plugin's options, so that the queue says why each bead waits as the plugin would.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// Reads the next bytes of the log; returns the number of events applied from them.
    pub fn feed(&mut self, chunk: &[u8]) -> u64 {
        let Self {
            until,
            reader,
            swarm,
            entries,
            stopped,
            first_at,
            last_at,
            ..
        } = self;
        let mut applied = 0;
        reader.feed(chunk, &mut |event| {
            *stopped = *stopped || until.passed(event);
            if *stopped {
                return;
            }
            swarm.apply(event);
            first_at.get_or_insert(event.timestamp);
            *last_at = Some(event.timestamp);
            if let Payload::Known(body) = &event.payload {
                entries.push(Entry::of(event.seq, event.timestamp, body, swarm));
            }
            applied += 1;
        });
        applied
    }

    pub fn health(&self) -> Health {
        Health {
            events: self.swarm.last_seq(),
            bytes: self.reader.offset(),
            partial_bytes: self.reader.partial_bytes(),
            damage: self.reader.damage().cloned(),
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
