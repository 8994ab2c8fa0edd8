//! What workers spend: the tokens and cost OpenCode records on each assistant reply, counted
//! into the log (`worker_usage`) when a worker's turn ends and before its session is deleted,
//! so that the figures outlive the session. A reply is counted once: each event says up to
//! which reply it counted (OpenCode's message ids ascend), and the projection passes over a
//! count that another instance already made.
use super::Apiary;
use crate::error::ToolError;
use crate::event::{EventBody, WorkerUsage};
use crate::host::{Host, Message};
use crate::projection::Swarm;

/// The replies asked for at first; a turn longer than this is read again with more.
const FIRST_READ: u32 = 100;
/// The most replies read back at once (a session longer than this counts its latest ones).
const MOST: u32 = 6_400;

impl<H: Host> Apiary<H> {
    /// Counts the replies of `session`'s worker that are not counted yet. A session the server
    /// no longer has, or a worker unknown here, counts nothing.
    pub(super) async fn count_usage(&self, session: &str) -> Result<(), ToolError> {
        let Some((server, directory, upto)) = self.log().swarm().session(session).map(|w| {
            let upto = w.usage.as_ref().map(|u| u.upto.clone()).unwrap_or_default();
            (w.server.clone(), w.directory.clone(), upto)
        }) else {
            return Ok(());
        };
        let mut limit = FIRST_READ;
        let messages = loop {
            let Ok(messages) = self
                .host
                .messages(session, server.as_deref(), directory.as_deref(), limit)
                .await
            else {
                return Ok(());
            };
            // Read far enough back when the first reply read is not counted yet.
            let reaches = messages.first().is_none_or(|m| m.info.id <= upto);
            if reaches || (messages.len() as u32) < limit || limit >= MOST {
                break messages;
            }
            limit *= 4;
        };
        if usage(&self.log().swarm(), session, &messages).is_none() {
            return Ok(());
        }
        let session = session.to_string();
        self.log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                usage(swarm, &session, &messages).into_iter().collect()
            })
            .await?;
        Ok(())
    }
}

/// The `worker_usage` of `session`'s worker for the assistant replies of `messages` after
/// the last one counted; `None` when there is none.
fn usage(swarm: &Swarm, session: &str, messages: &[Message]) -> Option<EventBody> {
    let w = swarm.session(session)?;
    let upto = w.usage.as_ref().map_or("", |u| u.upto.as_str());
    let mut e = WorkerUsage {
        session_id: w.session_id.clone(),
        bead_id: w.bead_id.clone(),
        epic_id: w.epic_id.clone(),
        ..WorkerUsage::default()
    };
    for m in messages {
        let i = &m.info;
        if i.role != "assistant" || i.id.as_str() <= upto || i.id <= e.upto {
            continue;
        }
        e.replies += 1;
        e.input += i.tokens.input;
        e.output += i.tokens.output;
        e.reasoning += i.tokens.reasoning;
        e.cache_read += i.tokens.cache.read;
        e.cache_write += i.tokens.cache.write;
        e.cost_micros += i.cost.0;
        e.upto.clone_from(&i.id);
        e.provider.clone_from(&i.provider_id);
        e.model.clone_from(&i.model_id);
    }
    (e.replies > 0).then_some(EventBody::WorkerUsage(e))
}
