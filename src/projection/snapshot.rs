//! The projection as JSON, for the snapshot kept beside the log: the shape serde's derives
//! wrote before (snapshots written by earlier builds still load), read field by field so that
//! a snapshot of thousands of workers is never one large tree in memory.
use super::{Mail, QueueState, Queued, Swarm, Usage, Worker, WorkerState};
use crate::event::CompletionStatus;
use crate::json::{
    json_fields, Fields, FromJson, Ignored, Json, JsonError, ObjWriter, Parser, ToJson,
};

// What says nothing (absent, empty, false) is left out: half of a finished worker's fields,
// and half of the text a snapshot of thousands of them is read from.
json_fields!(Worker {
    req bead_id,
    req epic_id,
    req session_id,
    req title,
    req files,
    req dependencies,
    req attempt,
    req state,
    req spawned_at,
    req last_activity_at,
    opt ended_at,
    opt progress_percent,
    opt progress_message,
    opt summary,
    opt error,
    req files_touched,
    opt duration_ms,
    opt parent_session_id,
    opt parent_directory,
    opt directory,
    opt worktree,
    opt branch,
    opt config_links,
    opt agent,
    opt model,
    opt merged_commit,
    opt pushed_commit,
    opt worktree_removed,
    opt interruptions,
    opt interrupted_message,
    opt notified,
    opt description,
    opt shared_context,
    opt priority,
    opt retryable,
    opt session_deleted,
    opt asks,
    opt turn_over,
    opt server,
    opt place_note,
    opt verify,
    opt verify_rounds,
    opt usage,
});
json_fields!(Usage {
    opt replies,
    opt input,
    opt output,
    opt reasoning,
    opt cache_read,
    opt cache_write,
    opt cost_micros,
    opt upto,
    opt model,
});
json_fields!(Mail {
    req sent,
    req at,
    req delivered,
    req read,
});
json_fields!(Queued {
    req request,
    req state,
    req queued_at,
    req seq,
    req attempt,
    req not_before,
    def previous_session_id,
});

/// Unit variants are their name; the others an object of one field, their name.
fn write_variant(out: &mut String, name: &str, value: Option<&dyn ToJson>) {
    match value {
        None => name.write(out),
        Some(value) => {
            let mut o = ObjWriter::new(out);
            o.field(name, value);
            o.end();
        }
    }
}

/// A variant's name and, for one with a value, the value.
fn variant<'j, 'a>(json: &'j Json<'a>) -> Option<(&'j str, Option<&'j Json<'a>>)> {
    match json {
        Json::Str(name) => Some((name, None)),
        Json::Obj(fields) if fields.len() == 1 => Some((&fields[0].0, Some(&fields[0].1))),
        _ => None,
    }
}

impl ToJson for WorkerState {
    fn write(&self, out: &mut String) {
        match self {
            Self::Completed(status) => write_variant(out, "completed", Some(status)),
            Self::Starting => write_variant(out, "starting", None),
            Self::Running => write_variant(out, "running", None),
            Self::Idle => write_variant(out, "idle", None),
            Self::Failed => write_variant(out, "failed", None),
            Self::Cancelled => write_variant(out, "cancelled", None),
            Self::Interrupted => write_variant(out, "interrupted", None),
        }
    }
}

impl FromJson for WorkerState {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        match variant(json) {
            Some(("completed", Some(status))) => {
                CompletionStatus::from_json(status).map(Self::Completed)
            }
            Some(("starting", None)) => Ok(Self::Starting),
            Some(("running", None)) => Ok(Self::Running),
            Some(("idle", None)) => Ok(Self::Idle),
            Some(("failed", None)) => Ok(Self::Failed),
            Some(("cancelled", None)) => Ok(Self::Cancelled),
            Some(("interrupted", None)) => Ok(Self::Interrupted),
            _ => Err(JsonError::want("a worker's state", json)),
        }
    }
}

impl ToJson for QueueState {
    fn write(&self, out: &mut String) {
        match self {
            Self::Waiting => write_variant(out, "Waiting", None),
            Self::Blocked(reason) => write_variant(out, "Blocked", Some(reason)),
            Self::Cancelled(reason) => write_variant(out, "Cancelled", Some(reason)),
            Self::Failed { error, retryable } => {
                let mut inner = String::new();
                let mut o = ObjWriter::new(&mut inner);
                o.field("error", error);
                o.field("retryable", retryable);
                o.end();
                write_variant(out, "Failed", Some(&Raw(inner)));
            }
        }
    }
}

/// JSON text written already.
struct Raw(String);

impl ToJson for Raw {
    fn write(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

impl FromJson for QueueState {
    fn from_json(json: &Json) -> Result<Self, JsonError> {
        let reason = |value: &Json| String::from_json(value);
        match variant(json) {
            Some(("Waiting", None)) => Ok(Self::Waiting),
            Some(("Blocked", Some(value))) => reason(value).map(Self::Blocked),
            Some(("Cancelled", Some(value))) => reason(value).map(Self::Cancelled),
            Some(("Failed", Some(value))) => {
                let f = Fields::of(value)?;
                Ok(Self::Failed {
                    error: f.req("error")?,
                    retryable: f.req("retryable")?,
                })
            }
            _ => Err(JsonError::want("a queued bead's state", json)),
        }
    }
}

impl ToJson for Swarm {
    fn write(&self, out: &mut String) {
        let mut o = ObjWriter::new(out);
        o.field("workers", &self.workers);
        o.field("by_bead", &self.by_bead);
        o.field("by_session", &self.by_session);
        o.field("epics", &self.epics);
        o.field("queue", &self.queue);
        o.field("mail", &self.mail);
        o.field("servers_down", &self.servers_down);
        o.field("last_seq", &self.last_seq);
        o.end();
    }
}

impl Swarm {
    /// The projection as its snapshot spells it.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// A projection from its snapshot's text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut p = Parser::new(text);
        let swarm = Self::read(&mut p, None)?;
        p.end()?;
        Ok(swarm)
    }

    /// Reads a projection at `p`; the workers, the queue and the mail one at a time. With a
    /// `scope`, the projection `Swarm::scoped` folds: the other workers are read and dropped
    /// one by one, and the indexes are made anew for those kept.
    pub(crate) fn read(p: &mut Parser, scope: Option<&str>) -> Result<Self, String> {
        let mut swarm = match scope {
            Some(home) => Swarm::scoped(home),
            None => Swarm::default(),
        };
        // The fields that must be there, one bit each (the others came later, with defaults).
        let mut required = 0u8;
        p.fields(&mut |p, name| {
            match &*name {
                "workers" => p.items(&mut |p| {
                    let w: Worker = p.read()?;
                    if scope.is_none() || swarm.keeps_read(&w) {
                        swarm.index(w);
                    }
                    Ok(())
                })?,
                "queue" => p.fields(&mut |p, bead| {
                    swarm.queue.insert(bead.into_owned(), p.read()?);
                    Ok(())
                })?,
                "mail" => p.items(&mut |p| {
                    swarm.mail.push(p.read()?);
                    Ok(())
                })?,
                "by_bead" | "by_session" | "epics" if scope.is_some() => {
                    p.read::<Ignored>()?;
                }
                "by_bead" => swarm.by_bead = p.read()?,
                "by_session" => swarm.by_session = p.read()?,
                "epics" => swarm.epics = p.read()?,
                "servers_down" => swarm.servers_down = p.read()?,
                "last_seq" => swarm.last_seq = p.read()?,
                _ => {
                    p.read::<Ignored>()?;
                    return Ok(());
                }
            }
            let names = ["workers", "by_bead", "by_session", "epics", "last_seq"];
            if let Some(i) = names.iter().position(|n| *n == name) {
                required |= 1 << i;
            }
            Ok(())
        })?;
        if required != 0b11111 {
            return Err("a projection lacks a field".to_string());
        }
        Ok(swarm)
    }

    /// Whether a scoped projection keeps `w`, read from a snapshot in spawn order.
    fn keeps_read(&self, w: &Worker) -> bool {
        self.keeps(
            &w.bead_id,
            w.directory.as_deref(),
            w.parent_directory.as_deref(),
        )
    }

    /// Adds `w` read from a snapshot to a scoped projection, with its indexes.
    fn index(&mut self, w: Worker) {
        if self.scope.is_some() {
            let i = self.workers.len();
            if self.by_bead.insert(w.bead_id.clone(), i).is_none() {
                self.add_to_epic(&w.epic_id, &w.bead_id);
            }
            self.by_session.insert(w.session_id.clone(), i);
        }
        self.workers.push(Box::new(w));
    }
}
