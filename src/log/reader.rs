//! Reading the log's lines, for every reader of it: the log itself, the views and
//! `swarm_log` check each line alike, so they agree on every event and on where damage is.
//!
//! A `LineReader` is given bytes in chunks of any size and hands each checked event to a fold
//! of its owner's. The first damaged line stops it for good, named by its line number, its
//! byte offset and why; an incomplete last line is an append in progress, not damage.
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use super::MAX_LINE;
use crate::chain;
use crate::event::{self, Event};
use crate::json::json_fields;

/// The first damaged line, and why: nothing after it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Damage {
    pub line: u64,
    /// Bytes from the start of the log to the damaged line.
    pub offset: u64,
    pub reason: String,
}

json_fields!(write Damage {
    req line,
    req offset,
    req reason,
});

/// Where reading stands: just after the last complete line, with the sequence number and the
/// chain value the next line must continue.
#[derive(Debug, Clone)]
pub struct LineReader {
    offset: u64,
    lines: u64,
    next_seq: u64,
    chain: String,
    damage: Option<Damage>,
    /// The bytes after the last complete line, for a reader fed a stream (`feed`).
    pending: Vec<u8>,
}

impl Default for LineReader {
    fn default() -> Self {
        Self::resume(0, 0, 1, String::new())
    }
}

impl LineReader {
    /// A reader at the start of a log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader after `lines` lines checked elsewhere (a snapshot's place in the log).
    pub fn resume(offset: u64, lines: u64, next_seq: u64, chain: String) -> Self {
        Self {
            offset,
            lines,
            next_seq,
            chain,
            damage: None,
            pending: Vec::new(),
        }
    }

    /// Bytes of complete lines read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Complete lines read.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The chain value of the last line read.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// Bytes of an incomplete last line kept by `feed` (none once damaged).
    pub fn partial_bytes(&self) -> u64 {
        match self.damage {
            Some(_) => 0,
            None => self.pending.len() as u64,
        }
    }

    /// Reads the next bytes of a stream (a file read at once, or followed as it grows): an
    /// incomplete last line is kept until the rest of it arrives.
    pub fn feed(&mut self, chunk: &[u8], fold: &mut dyn FnMut(&Event)) {
        if self.damage.is_some() {
            return;
        }
        let mut rest = chunk;
        if !self.pending.is_empty() {
            // Only the line the chunk completes goes through `pending`, not the whole chunk.
            let Some(nl) = chunk.iter().position(|&b| b == b'\n') else {
                self.pending.extend_from_slice(chunk);
                return;
            };
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&chunk[..=nl]);
            self.complete_lines(&line, fold);
            if self.damage.is_some() {
                return;
            }
            line.clear();
            self.pending = line;
            rest = &chunk[nl + 1..];
        }
        let used = self.complete_lines(rest, fold);
        if self.damage.is_none() {
            self.pending.extend_from_slice(&rest[used..]);
        }
    }

    /// Reads bytes that start at byte `start` of the log, as a store returned them: bytes
    /// already read are skipped (a concurrent catch-up got there first), and an incomplete
    /// last line is not kept, since a writer may yet cut it off and write another in its
    /// place; the next read starts again at `offset`. Returns the length of that line.
    pub fn read_at(&mut self, start: u64, bytes: &[u8], fold: &mut dyn FnMut(&Event)) -> u64 {
        self.pending.clear();
        if self.damage.is_some() || start + (bytes.len() as u64) <= self.offset {
            return 0;
        }
        let bytes = &bytes[self.offset.saturating_sub(start) as usize..];
        let used = self.complete_lines(bytes, fold);
        match self.damage {
            Some(_) => 0,
            None => (bytes.len() - used) as u64,
        }
    }

    /// Moves past a line the owner sealed and wrote itself (`chain` is its chain value).
    pub fn wrote(&mut self, len: u64, chain: String) {
        self.next_seq += 1;
        self.chain = chain;
        self.offset += len;
        self.lines += 1;
    }

    /// Stops at the next line, for a reason found outside the line itself (a tail that is not
    /// what a writer of this log leaves).
    pub fn stop(&mut self, reason: String) {
        self.damage = Some(Damage {
            line: self.lines + 1,
            offset: self.offset,
            reason,
        });
    }

    /// Checks and folds the complete lines of `bytes`, which start at `offset`; stops at the
    /// first damaged one. Returns the bytes consumed.
    fn complete_lines(&mut self, bytes: &[u8], fold: &mut dyn FnMut(&Event)) -> usize {
        let mut pos = 0;
        while let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') {
            match check_line(self.next_seq, &self.chain, &bytes[pos..pos + nl]) {
                Ok((event, h)) => {
                    self.next_seq = event.seq + 1;
                    self.chain = h;
                    self.lines += 1;
                    self.offset += (nl + 1) as u64;
                    fold(&event);
                }
                Err(reason) => {
                    self.stop(reason);
                    return pos;
                }
            }
            pos += nl + 1;
        }
        pos
    }
}

/// Decodes one complete line and checks it against the chain value and sequence number the
/// line before it left: returns the event and the line's own chain value, or what is wrong.
pub fn check_line(next_seq: u64, chain: &str, raw: &[u8]) -> Result<(Event, String), String> {
    if raw.len() > MAX_LINE {
        return Err(format!(
            "line is {} bytes long; the limit is {MAX_LINE}",
            raw.len()
        ));
    }
    let line = std::str::from_utf8(raw).map_err(|_| "not UTF-8".to_string())?;
    let event = event::decode(line)?;
    let h = chain::verify(chain, line, event.version >= 2)?;
    // Concurrent catch-ups are de-duplicated by byte offset, so every line read here must be
    // the next event: anything else is a duplicated or missing line.
    if event.seq < next_seq {
        return Err(format!(
            "sequence number {} repeats (expected {next_seq}): a line is duplicated",
            event.seq
        ));
    }
    if event.seq > next_seq {
        return Err(format!(
            "sequence jumps from {} to {}: an event is missing",
            next_seq - 1,
            event.seq
        ));
    }
    Ok((event, h))
}
