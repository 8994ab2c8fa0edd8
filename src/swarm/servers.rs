//! Servers of the `servers` option that stop answering, and come back. The instance's duties
//! probe them (see `duties`); a lost server is recorded once (whichever instance notices
//! first), takes no new worker, and its running workers fail as retryable, so the retry
//! policy places them again on a server that answers. When it answers again, it takes workers
//! again. What to record is decided here, from the projection alone.
use super::Apiary;
use crate::error::ToolError;
use crate::event::{EventBody, ServerNote, WorkerFailed};
use crate::host::Host;
use crate::projection::Swarm;

/// Consecutive failed probes that make a server lost: about 6 to 12 s after it stops.
pub const FAILED_PROBES: u32 = 3;

/// What a round of probes means for one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Lost,
    Back,
}

/// `down`: the log says the server is lost; `failed_in_a_row`: its probes that failed since
/// it last answered (0: it answered this time).
pub fn judge(down: bool, failed_in_a_row: u32) -> Option<Verdict> {
    match (down, failed_in_a_row) {
        (true, 0) => Some(Verdict::Back),
        (false, n) if n >= FAILED_PROBES => Some(Verdict::Lost),
        _ => None,
    }
}

/// The events that record `url` lost: the loss, and each of its running workers failed as
/// retryable. None when the log already says it is lost.
pub fn lost_events(swarm: &Swarm, url: &str, reason: &str) -> Vec<EventBody> {
    if swarm.server_down(url) {
        return Vec::new();
    }
    let mut events = vec![EventBody::ServerLost(ServerNote {
        url: url.to_string(),
        reason: reason.to_string(),
    })];
    for w in swarm
        .workers()
        .filter(|w| w.state.is_active() && w.server.as_deref() == Some(url))
    {
        events.push(EventBody::WorkerFailed(WorkerFailed {
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            epic_id: w.epic_id.clone(),
            error: format!("server lost: {url} ({reason})"),
            stack: None,
            retryable: true,
        }));
    }
    events
}

/// The event that records `url` back; none unless the log says it is lost.
pub fn back_events(swarm: &Swarm, url: &str) -> Vec<EventBody> {
    if !swarm.server_down(url) {
        return Vec::new();
    }
    vec![EventBody::ServerBack(ServerNote {
        url: url.to_string(),
        reason: String::new(),
    })]
}

impl<H: Host> Apiary<H> {
    fn check_server(&self, url: &str) -> Result<(), ToolError> {
        if self.options.servers.iter().any(|s| s.url == url) {
            return Ok(());
        }
        Err(ToolError::invalid(
            "url",
            format!("{url} is not a server of the servers option"),
        ))
    }

    /// Records `url` lost and fails its running workers (retryable); returns how many.
    pub async fn server_lost(&self, url: &str, reason: &str) -> Result<u32, ToolError> {
        self.check_server(url)?;
        let (url, reason) = (url.to_string(), reason.to_string());
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                lost_events(swarm, &url, &reason)
            })
            .await?;
        self.drain().await?;
        Ok(recorded.len().saturating_sub(1) as u32)
    }

    /// Records `url` answering again; whether it was lost.
    pub async fn server_back(&self, url: &str) -> Result<bool, ToolError> {
        self.check_server(url)?;
        let url = url.to_string();
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                back_events(swarm, &url)
            })
            .await?;
        if !recorded.is_empty() {
            self.drain().await?;
        }
        Ok(!recorded.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_lost_after_three_failed_probes_and_back_at_its_first_answer() {
        assert_eq!(judge(false, 0), None);
        assert_eq!(judge(false, FAILED_PROBES - 1), None);
        assert_eq!(judge(false, FAILED_PROBES), Some(Verdict::Lost));
        assert_eq!(judge(true, FAILED_PROBES + 5), None);
        assert_eq!(judge(true, 0), Some(Verdict::Back));
    }
}
