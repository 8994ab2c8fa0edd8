//! What `swarm_log` answers from: every event of the log in a few words, read once and kept,
//! so that a call reads only the lines appended since the call before.
//!
//! It lives as long as the instance, so it keeps little: ids are kept once however many
//! events name them, and of each event's account only the excerpt the tool shows. The epic of
//! an event is the one its bead had once the event was applied, as the views give it, known
//! here from one pair of epics per bead rather than from a second projection.
use std::collections::BTreeMap;

use crate::event::{Event, EventBody, Payload};
use crate::log::{Damage, LineReader};
use crate::text::excerpt;
use crate::view::{describe, EventFilter};

/// No name (an event without a bead, a session or an epic).
const NONE: u32 = u32::MAX;

/// One event, as the tool lists it and filters it.
#[derive(Debug)]
pub(crate) struct Row {
    pub seq: u64,
    pub at: u64,
    type_index: u8,
    bead: u32,
    epic: u32,
    session: u32,
    /// The account of the event, as shown: at most `detail_chars` characters.
    pub detail: Box<str>,
}

impl Row {
    pub fn type_name(&self) -> &'static str {
        EventBody::TYPE_NAMES[self.type_index as usize]
    }
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    reader: LineReader,
    names: Names,
    /// Per bead (by name): the epic of its latest worker and of its latest queue entry; the
    /// projection gives a bead the first, or else the second.
    epics: Vec<[u32; 2]>,
    rows: Vec<Row>,
    detail_chars: usize,
}

impl Journal {
    pub fn new(detail_chars: usize) -> Self {
        Self {
            detail_chars,
            ..Self::default()
        }
    }

    /// Where the next read starts: after the last complete line.
    pub fn offset(&self) -> u64 {
        self.reader.offset()
    }

    pub fn damage(&self) -> Option<&Damage> {
        self.reader.damage()
    }

    /// Takes in the log's bytes from `start` on.
    pub fn read(&mut self, start: u64, bytes: &[u8]) {
        let Self {
            reader,
            names,
            epics,
            rows,
            detail_chars,
        } = self;
        reader.read_at(start, bytes, &mut |event| {
            if let Some(row) = row_of(event, names, epics, *detail_chars) {
                rows.push(row);
            }
        });
    }

    /// The matching events (the last `limit` of them, in order), and how many matched in all.
    pub fn page(&self, filter: &EventFilter) -> (u64, Vec<&Row>) {
        // A name no event carries matches nothing.
        let want = |name: &Option<String>| match name {
            None => Some(None),
            Some(n) => self.names.find(n).map(Some),
        };
        let (Some(epic), Some(bead), Some(session)) = (
            want(&filter.epic_id),
            want(&filter.bead_id),
            want(&filter.session_id),
        ) else {
            return (0, Vec::new());
        };
        let types = filter.types.as_deref().unwrap_or_default();
        let is = |want: Option<u32>, got: u32| want.is_none_or(|w| w == got);
        let limit = filter.limit.map_or(usize::MAX, |l| l as usize);
        let mut total = 0;
        let mut last = Vec::new();
        for row in self.rows.iter().rev() {
            if is(epic, row.epic)
                && is(bead, row.bead)
                && is(session, row.session)
                && filter.after_seq.is_none_or(|s| row.seq > s)
                && (types.is_empty() || types.iter().any(|t| t == row.type_name()))
            {
                total += 1;
                if last.len() < limit {
                    last.push(row);
                }
            }
        }
        last.reverse();
        (total, last)
    }

    /// The bead of a row.
    pub fn bead(&self, row: &Row) -> Option<&str> {
        self.names.get(row.bead)
    }
}

/// Follows the bead's epics as the projection does, then describes the event.
fn row_of(
    event: &Event,
    names: &mut Names,
    epics: &mut Vec<[u32; 2]>,
    detail_chars: usize,
) -> Option<Row> {
    let Payload::Known(body) = &event.payload else {
        return None;
    };
    let (bead, session, detail) = describe(body);
    let bead = bead.map_or(NONE, |b| names.id(b));
    let mut epic_of_bead = |slot: usize, epic: &str| {
        let epic = names.id(epic);
        if epics.len() <= bead as usize {
            epics.resize(bead as usize + 1, [NONE; 2]);
        }
        epics[bead as usize][slot] = epic;
    };
    match body {
        EventBody::WorkerSpawned(e) => epic_of_bead(0, &e.epic_id),
        EventBody::WorkerQueued(e) => epic_of_bead(1, &e.epic_id),
        _ => {}
    }
    let epic = match body {
        EventBody::WorkerCompleted(e) => names.id(&e.epic_id),
        _ => match epics.get(bead as usize) {
            Some(&[NONE, queued]) => queued,
            Some(&[worker, _]) => worker,
            None => NONE,
        },
    };
    Some(Row {
        seq: event.seq,
        at: event.timestamp,
        type_index: EventBody::TYPE_NAMES
            .iter()
            .position(|t| *t == body.type_name())
            .expect("every type is named") as u8,
        bead,
        epic,
        session: session.map_or(NONE, |s| names.id(s)),
        detail: excerpt(&detail, detail_chars).into(),
    })
}

/// Bead, epic and session ids, each known by a number. Each is kept twice (by name and by
/// number): one more short string per bead, session and epic costs less than the code that
/// sharing them would add to the module.
#[derive(Debug, Default)]
struct Names {
    ids: BTreeMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn find(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn get(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }
}
