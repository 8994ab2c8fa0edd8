//! Servers of the `servers` option that stop answering, and come back. The plugin probes them;
//! a lost server is recorded once (whichever instance notices first), takes no new worker, and
//! its running workers fail as retryable, so the retry policy places them again on a server
//! that answers. When it answers again, it takes workers again.
use super::Apiary;
use crate::error::ToolError;
use crate::event::{EventBody, ServerNote, WorkerFailed};
use crate::host::Host;

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
        let recorded =
            self.log
                .append_with(&self.host, self.host.now_ms(), move |swarm| {
                    if swarm.server_down(&url) {
                        return Vec::new();
                    }
                    let mut events = vec![EventBody::ServerLost(ServerNote {
                        url: url.clone(),
                        reason: reason.clone(),
                    })];
                    for w in swarm.workers().filter(|w| {
                        w.state.is_active() && w.server.as_deref() == Some(url.as_str())
                    }) {
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
            .log
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                if !swarm.server_down(&url) {
                    return Vec::new();
                }
                vec![EventBody::ServerBack(ServerNote {
                    url: url.clone(),
                    reason: String::new(),
                })]
            })
            .await?;
        if !recorded.is_empty() {
            self.drain().await?;
        }
        Ok(!recorded.is_empty())
    }
}
