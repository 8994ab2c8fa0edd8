//! `swarm_log`: the log's events themselves, filtered by epic, bead, session and type, one
//! compact line each: what happened to a bead, in order, when a poll's summary is not enough.
//!
//! Each call reads only what was appended since the call before, into the instance's
//! `Journal`; the first call reads the whole log.
use std::fmt::Write;

use super::Apiary;
use crate::api::{LogArgs, Reply};
use crate::error::ToolError;
use crate::event::EventBody;
use crate::host::Host;
use crate::ids::{check_count, check_id};
use crate::text::duration;
use crate::view::EventFilter;

mod journal;

pub(crate) use journal::Journal;

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = super::limits::LOG_EVENTS;
const DETAIL_CHARS: usize = 90;

impl Journal {
    /// What this tool keeps of each event.
    pub(crate) fn for_history() -> Self {
        Self::new(DETAIL_CHARS)
    }
}

impl<H: Host> Apiary<H> {
    pub async fn history(&self, args: &LogArgs) -> Result<Reply, ToolError> {
        self.widen();
        for (field, value) in [
            ("epic_id", &args.epic_id),
            ("bead_id", &args.bead_id),
            ("session_id", &args.session_id),
        ] {
            if let Some(v) = value {
                check_id(field, v)?;
            }
        }
        let types = args.types.clone().unwrap_or_default();
        check_count("types", types.len(), EventBody::TYPE_NAMES.len())?;
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("is {limit}; give 1 to {MAX_LIMIT}"),
            ));
        }
        let filter = EventFilter {
            epic_id: args.epic_id.clone(),
            bead_id: args.bead_id.clone(),
            session_id: args.session_id.clone(),
            types: Some(types),
            after_seq: None,
            limit: Some(limit),
        };
        filter.check().map_err(|e| ToolError::invalid("types", e))?;
        // Damage stops reading for good, as it stops the log's own reading.
        if self.journal.borrow().damage().is_none() {
            let start = self.journal.borrow().offset();
            let bytes = self.host.read_from(start, u64::MAX).await?;
            self.journal.borrow_mut().read(start, &bytes);
        }
        let journal = self.journal.borrow();
        let (total, events) = journal.page(&filter);
        let now = self.host.now_ms();
        let mut out = format!("{total} event(s)");
        if total > events.len() as u64 {
            let _ = write!(out, ", the last {} shown", events.len());
        }
        if let Some(d) = journal.damage() {
            let _ = write!(
                out,
                "; the log is damaged at line {} ({}): nothing after it is shown",
                d.line, d.reason
            );
        }
        if !events.is_empty() {
            out.push(':');
        }
        for e in events {
            let _ = write!(
                out,
                "\n#{} {} ago {}",
                e.seq,
                duration(now.saturating_sub(e.at)),
                e.type_name()
            );
            if let Some(b) = journal.bead(e) {
                let _ = write!(out, " {b}");
            }
            if !e.detail.is_empty() {
                let _ = write!(out, ": {}", e.detail);
            }
        }
        Ok(Reply {
            title: format!("{total} event(s)"),
            output: out,
        })
    }
}
