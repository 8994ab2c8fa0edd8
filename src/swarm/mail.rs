//! Messages between the coordinator and its workers: `swarm_send`, `swarm_inbox`, `swarm_ack`.
//!
//! A message is a `message_sent` event, so nothing is lost to a restart. It reaches a
//! recipient (`message_delivered`) when its inbox shows it, or as a prompt: an urgent message to
//! a worker is prompted at once if the worker is between turns, else when its turn ends; a
//! high or urgent one to the coordinator is prompted when the coordinator is idle (and marks
//! the sending worker as asking, which poll shows). `swarm_ack` records `message_read`.
//! Each delivery is recorded before its prompt is sent, so it happens exactly once.
use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::{limits, Apiary};
use crate::api::{AckArgs, CallContext, InboxArgs, Reply, SendArgs};
use crate::error::ToolError;
use crate::event::{EventBody, Importance, MessageMark, MessageSent, Payload};
use crate::host::Host;
use crate::ids::{check_count, check_id, check_text};
use crate::projection::{Mail, Swarm, WorkerState};
use crate::text::{duration, excerpt, hex};

const COORDINATOR: &str = "coordinator";
const RECIPIENTS: usize = 20;
const BODY_CHARS: usize = 300;
/// Messages an inbox shows at most, newest kept.
const SHOWN: usize = 20;

/// Who is calling: a worker (its bead) or a coordinator (its session).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Me {
    Worker(String),
    Coordinator(String),
}

impl Me {
    fn name(&self) -> &str {
        match self {
            Self::Worker(b) => b,
            Self::Coordinator(_) => COORDINATOR,
        }
    }
}

fn me(swarm: &Swarm, ctx: &CallContext) -> Me {
    match swarm.session(&ctx.session_id) {
        Some(w) if !ctx.session_id.is_empty() => Me::Worker(w.bead_id.clone()),
        _ => Me::Coordinator(ctx.session_id.clone()),
    }
}

/// The coordinator session a message to `coordinator` goes to: the sending worker's.
fn coordinator_of(swarm: &Swarm, mail: &Mail) -> Option<String> {
    swarm
        .bead(&mail.sent.from)
        .and_then(|w| w.parent_session_id.clone())
        .or_else(|| mail.sent.from_session.clone())
}

/// Whether `mail` is addressed to the caller.
fn is_for(swarm: &Swarm, mail: &Mail, me: &Me) -> bool {
    match me {
        Me::Worker(b) => mail.sent.to.iter().any(|t| t == b),
        Me::Coordinator(session) => {
            mail.sent.to.iter().any(|t| t == COORDINATOR)
                && coordinator_of(swarm, mail).is_none_or(|c| c == *session || session.is_empty())
        }
    }
}

/// The marks that say these messages reached `recipient`, for those not marked yet.
fn marks(swarm: &Swarm, ids: &[String], recipient: &str, via: &str) -> Vec<EventBody> {
    swarm
        .mail()
        .iter()
        .filter(|m| ids.contains(&m.sent.message_id) && m.delivered_to(recipient).is_none())
        .map(|m| {
            EventBody::MessageDelivered(MessageMark {
                message_id: m.sent.message_id.clone(),
                recipient: recipient.to_string(),
                via: Some(via.to_string()),
            })
        })
        .collect()
}

/// Urgent messages a worker has not had yet, if it is between turns (so a prompt starts a
/// turn rather than queueing behind one); none for a worker that finished.
fn due_for_worker(swarm: &Swarm, bead: &str) -> Vec<String> {
    let Some(w) = swarm.bead(bead) else {
        return Vec::new();
    };
    if !matches!(w.state, WorkerState::Idle | WorkerState::Interrupted) {
        return Vec::new();
    }
    swarm
        .mail()
        .iter()
        .filter(|m| m.importance() == Importance::Urgent)
        .filter(|m| m.sent.to.iter().any(|t| t == bead) && m.delivered_to(bead).is_none())
        .map(|m| m.sent.message_id.clone())
        .collect()
}

/// High and urgent messages to `coordinator` not delivered yet, per coordinator session.
fn due_for_coordinators(swarm: &Swarm) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for m in swarm.mail() {
        let wanted = m.importance() >= Importance::High
            && m.sent.to.iter().any(|t| t == COORDINATOR)
            && m.delivered_to(COORDINATOR).is_none();
        let Some(session) = coordinator_of(swarm, m).filter(|_| wanted) else {
            continue;
        };
        match out.iter_mut().find(|(s, _)| *s == session) {
            Some((_, ids)) => ids.push(m.sent.message_id.clone()),
            None => out.push((session, vec![m.sent.message_id.clone()])),
        }
    }
    out
}

/// One message as a prompt or an inbox entry.
fn render(m: &Mail, now: u64, full: bool) -> String {
    let mut s = format!(
        "{} from {} ({}) {} ago",
        m.sent.message_id,
        m.sent.from,
        m.importance().as_str(),
        duration(now.saturating_sub(m.at))
    );
    if let Some(t) = &m.sent.thread_id {
        let _ = write!(s, " [thread {t}]");
    }
    let body = if full {
        m.sent.body.clone()
    } else {
        excerpt(&m.sent.body, BODY_CHARS)
    };
    let _ = write!(
        s,
        ": {}\n    {}",
        m.sent.subject,
        body.replace('\n', "\n    ")
    );
    s
}

impl<H: Host> Apiary<H> {
    pub async fn send(&self, ctx: &CallContext, args: &SendArgs) -> Result<Reply, ToolError> {
        check_count("to", args.to.len(), RECIPIENTS)?;
        if args.to.is_empty() {
            return Err(ToolError::invalid(
                "to",
                "names nobody; give coordinator or bead ids",
            ));
        }
        for t in &args.to {
            if t != COORDINATOR {
                check_id("to", t)?;
            }
        }
        check_text("subject", &args.subject, limits::TITLE, true)?;
        check_text("body", &args.body, limits::SUMMARY, false)?;
        if let Some(t) = &args.thread_id {
            check_id("thread_id", t)?;
        }
        self.refresh().await?;
        // A worker's part of the swarm knows its own bead and those it started: a message to
        // another bead is checked against the whole swarm.
        let known = |swarm: &Swarm, t: &str| {
            t == COORDINATOR || swarm.bead(t).is_some() || swarm.queued(t).is_some()
        };
        if args.to.iter().any(|t| !known(&self.log().swarm(), t)) {
            self.widen();
            self.refresh().await?;
        }
        let now = self.host.now_ms();
        let sender = me(&self.log().swarm(), ctx);
        {
            let swarm = self.log().swarm();
            for t in &args.to {
                if t == sender.name() {
                    return Err(ToolError::invalid("to", format!("{t} is you")));
                }
                if !known(&swarm, t) {
                    return Err(ToolError::Refused(format!(
                        "no bead {t} was spawned or queued; nothing was sent"
                    )));
                }
            }
        }
        let id = {
            let seed = format!(
                "{}|{}|{now}|{}",
                ctx.session_id,
                args.subject,
                args.body.len()
            );
            format!("m-{}", &hex(&Sha256::digest(seed.as_bytes()))[..10])
        };
        let sent = EventBody::MessageSent(MessageSent {
            message_id: id.clone(),
            from: sender.name().to_string(),
            from_session: Some(ctx.session_id.clone()).filter(|s| !s.is_empty()),
            to: args.to.clone(),
            subject: args.subject.trim().to_string(),
            body: args.body.clone(),
            importance: args.importance,
            thread_id: args.thread_id.clone(),
        });
        self.log().append(&self.host, now, &[sent]).await?;
        let mut notes = Vec::new();
        let importance = args.importance.unwrap_or_default();
        for t in &args.to {
            let note = if t == COORDINATOR {
                if importance >= Importance::High {
                    self.tell_coordinators().await?;
                    "the coordinator is told when idle; you show as blocked until it answers"
                } else {
                    "in the coordinator's inbox"
                }
            } else if importance == Importance::Urgent {
                self.deliver_urgent(t).await?;
                match self
                    .log()
                    .swarm()
                    .mail()
                    .iter()
                    .rev()
                    .find(|m| m.sent.message_id == id)
                {
                    Some(m) if m.delivered_to(t).is_some() => "delivered as a prompt",
                    _ => "prompted when its turn ends",
                }
            } else {
                "in its inbox"
            };
            notes.push(format!("{t}: {note}"));
        }
        Ok(Reply {
            title: format!("sent {id}"),
            output: format!("sent {id} ({}); {}", importance.as_str(), notes.join("; ")),
        })
    }

    pub async fn inbox(&self, ctx: &CallContext, args: &InboxArgs) -> Result<Reply, ToolError> {
        if let Some(t) = &args.thread_id {
            check_id("thread_id", t)?;
        }
        self.refresh().await?;
        let now = self.host.now_ms();
        let me = me(&self.log().swarm(), ctx);
        let unread_only = args.unread_only.unwrap_or(false);
        let (lines, ids, sent) = {
            let swarm = self.log().swarm();
            let thread = |m: &&Mail| {
                args.thread_id
                    .as_ref()
                    .is_none_or(|t| m.sent.thread_id.as_ref() == Some(t))
            };
            let mine: Vec<&Mail> = swarm
                .mail()
                .iter()
                .filter(|m| is_for(&swarm, m, &me))
                .filter(thread)
                .filter(|m| !unread_only || m.read_by(me.name()).is_none())
                .collect();
            let skip = mine.len().saturating_sub(SHOWN);
            let lines: Vec<String> = mine[skip..]
                .iter()
                .map(|m| {
                    let unread = if m.read_by(me.name()).is_none() {
                        "* "
                    } else {
                        "  "
                    };
                    format!("{unread}{}", render(m, now, false))
                })
                .collect();
            let ids: Vec<String> = mine[skip..]
                .iter()
                .map(|m| m.sent.message_id.clone())
                .collect();
            let from_me = |m: &&Mail| match &me {
                Me::Worker(b) => m.sent.from == *b,
                Me::Coordinator(s) => {
                    m.sent.from == COORDINATOR && m.sent.from_session.as_ref() == Some(s)
                }
            };
            let sent: Vec<String> = swarm
                .mail()
                .iter()
                .filter(from_me)
                .filter(thread)
                .rev()
                .take(10)
                .map(|m| {
                    let fate: Vec<String> = m
                        .sent
                        .to
                        .iter()
                        .map(|t| match (m.delivered_to(t), m.read_by(t)) {
                            (_, Some(at)) => {
                                format!("{t} read it {} ago", duration(now.saturating_sub(at)))
                            }
                            (Some((_, at, via)), None) => {
                                format!(
                                    "{t} got it {} ago ({via})",
                                    duration(now.saturating_sub(*at))
                                )
                            }
                            (None, None) => format!("{t} not yet"),
                        })
                        .collect();
                    format!(
                        "  {} to {}: {}: {}",
                        m.sent.message_id,
                        m.sent.to.join(", "),
                        m.sent.subject,
                        fate.join(", ")
                    )
                })
                .collect();
            (lines, ids, sent)
        };
        if !ids.is_empty() {
            let (ids, name) = (ids.clone(), me.name().to_string());
            self.log()
                .append_with(&self.host, now, move |swarm| {
                    marks(swarm, &ids, &name, "inbox")
                })
                .await?;
        }
        let unread = lines.iter().filter(|l| l.starts_with('*')).count();
        let mut out = format!(
            "{} message(s) for {}, {unread} unread",
            lines.len(),
            me.name()
        );
        if !lines.is_empty() {
            let _ = write!(out, ":\n{}", lines.join("\n"));
        }
        if !sent.is_empty() {
            let _ = write!(out, "\nsent by you:\n{}", sent.join("\n"));
        }
        if unread > 0 {
            out.push_str("\n(* unread; swarm_ack { message_ids } marks them read)");
        }
        Ok(Reply {
            title: format!("{} message(s), {unread} unread", lines.len()),
            output: out,
        })
    }

    pub async fn ack(&self, ctx: &CallContext, args: &AckArgs) -> Result<Reply, ToolError> {
        check_count("message_ids", args.message_ids.len(), 100)?;
        if args.message_ids.is_empty() {
            return Err(ToolError::invalid("message_ids", "is empty"));
        }
        self.refresh().await?;
        let me = me(&self.log().swarm(), ctx);
        {
            let swarm = self.log().swarm();
            let unknown: Vec<&str> = args
                .message_ids
                .iter()
                .filter(|id| {
                    !swarm
                        .mail()
                        .iter()
                        .any(|m| m.sent.message_id == **id && is_for(&swarm, m, &me))
                })
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(ToolError::Refused(format!(
                    "no message {} for {}; nothing was marked",
                    unknown.join(", "),
                    me.name()
                )));
            }
        }
        let (ids, name) = (args.message_ids.clone(), me.name().to_string());
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                let mut out = marks(swarm, &ids, &name, "inbox");
                out.extend(
                    swarm
                        .mail()
                        .iter()
                        .filter(|m| ids.contains(&m.sent.message_id) && m.read_by(&name).is_none())
                        .map(|m| {
                            EventBody::MessageRead(MessageMark {
                                message_id: m.sent.message_id.clone(),
                                recipient: name.clone(),
                                via: None,
                            })
                        }),
                );
                out
            })
            .await?;
        let read = recorded
            .iter()
            .filter(|e| matches!(e.payload, Payload::Known(EventBody::MessageRead(_))))
            .count();
        Ok(Reply {
            title: format!("{read} read"),
            output: format!(
                "marked {read} read ({} already were)",
                args.message_ids.len() - read
            ),
        })
    }

    /// Prompts a worker between turns with its urgent messages, each recorded first.
    pub(super) async fn deliver_urgent(&self, bead: &str) -> Result<(), ToolError> {
        if due_for_worker(&self.log().swarm(), bead).is_empty() {
            return Ok(());
        }
        let b = bead.to_string();
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                marks(swarm, &due_for_worker(swarm, &b), &b, "prompt")
            })
            .await?;
        let ids = delivered_ids(&recorded);
        if ids.is_empty() {
            return Ok(());
        }
        let Some(w) = self.log().swarm().bead(bead).cloned() else {
            return Ok(());
        };
        let now = self.host.now_ms();
        let mut text = String::from("[apiary] urgent message(s) for you:\n");
        for m in self
            .log()
            .swarm()
            .mail()
            .iter()
            .filter(|m| ids.contains(&m.sent.message_id))
        {
            let _ = writeln!(text, "{}", render(m, now, true));
        }
        let _ =
            write!(
            text,
            "Acknowledge with swarm_ack {{ message_ids: [{}] }}, answer with swarm_send if asked, \
             then go on with your task and finish with swarm_complete.",
            ids.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", ")
        );
        // Recorded first: a refused prompt leaves the messages in the worker's inbox.
        let _ = self.prompt_worker(&w, text).await;
        Ok(())
    }

    /// Prompts each idle coordinator with the high and urgent messages its workers sent it.
    pub(super) async fn tell_messages(&self) -> Result<u32, ToolError> {
        let due: Vec<(String, Vec<String>)> = due_for_coordinators(&self.log().swarm())
            .into_iter()
            .filter(|(s, _)| self.busy.borrow().get(s) == Some(&false))
            .collect();
        let mut sent = 0;
        for (session, ids) in due {
            let recorded = self
                .log()
                .append_with(&self.host, self.host.now_ms(), move |swarm| {
                    marks(swarm, &ids, COORDINATOR, "prompt")
                })
                .await?;
            let ids = delivered_ids(&recorded);
            if ids.is_empty() {
                continue;
            }
            let now = self.host.now_ms();
            let (text, directory) = {
                let swarm = self.log().swarm();
                let mails: Vec<&Mail> = swarm
                    .mail()
                    .iter()
                    .filter(|m| ids.contains(&m.sent.message_id))
                    .collect();
                let directory = mails.iter().find_map(|m| {
                    swarm
                        .bead(&m.sent.from)
                        .and_then(|w| w.parent_directory.clone())
                });
                let mut text = String::from("[apiary] message(s) from your workers:\n");
                for m in &mails {
                    let _ = writeln!(text, "{}", render(m, now, true));
                }
                text.push_str(
                    "Answer with swarm_send { to: [bead], subject, body } (urgent reaches a \
                     waiting worker as a prompt); swarm_inbox lists every message.",
                );
                (text, directory)
            };
            if self.prompt_coordinator(&session, directory, text).await {
                sent += 1;
            }
        }
        Ok(sent)
    }
}

fn delivered_ids(recorded: &[crate::event::Event]) -> Vec<String> {
    recorded
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Known(EventBody::MessageDelivered(d)) => Some(d.message_id.clone()),
            _ => None,
        })
        .collect()
}
