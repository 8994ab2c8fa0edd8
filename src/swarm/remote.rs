//! Worktrees on other machines. A worker placed on a server of the `servers` option works in a
//! worktree of that server's clone, and git's shared remote `origin` carries the work both
//! ways: the coordinator pushes its HEAD as the worker's base, the server's clone fetches it
//! and adds the worktree; at `swarm_complete` the worker's own plugin instance (on its
//! machine) commits and pushes the branch, and `swarm_worktree_merge` fetches it.
//!
//! What must run on the other machine runs as a POSIX `sh` script through that server's shell
//! command (`Workspace::remote_shell`); `worktree::script` says how a script reports, and
//! holds the rule that readies a worktree, here or there.
use super::worktree::script::{self, commit_excludes, outcome, quote, PRELUDE};
use super::worktree::{ok, root_of, worktree_name, Placement};
use super::Apiary;
use crate::error::{HostError, ToolError};
use crate::host::Host;
use crate::projection::Worker;

/// The agent a script on another server runs under, when the server has it.
const SHELL_AGENT: &str = "build";

/// Tries at readying a remote worktree before its error is the spawn's (two coordinators
/// adding worktrees to one clone at once make git fail on the other's half-made entry).
const ADD_ATTEMPTS: u64 = 3;

/// The ref on `origin` a worker's worktree starts from: what the coordinator sees at its start
/// (`script::SNAPSHOT`).
fn base_ref(name: &str) -> String {
    format!("refs/apiary/base/{name}")
}

/// The `sh` that defines `set_base` in the clone a script runs in: it sets `$base` to the
/// coordinator's base, pushed to `origin` as the base of the worktree `name`, fetched, and no
/// longer needed there.
fn fetch_base(name: &str) -> String {
    let base = base_ref(name);
    let spec = quote(&format!("+{base}:{base}"));
    let base = quote(&base);
    format!(
        "set_base() {{\nrun git fetch -q origin {spec}\nbase=$(git rev-parse {base})\ngit update-ref -d {base}\n}}\n"
    )
}

/// Commits what the worker left in its worktree (leaving out the links made for OpenCode)
/// and pushes its branch to `origin`.
fn push_script(w: &Worker, path: &str, branch: &str) -> String {
    let excludes: String = commit_excludes(&w.config_links)
        .iter()
        .map(|l| format!(" {}", quote(l)))
        .collect();
    let message = format!("{}: {}", w.bead_id, w.title);
    format!(
        r#"{PRELUDE}cd {path} || fail "no worktree at "{path}
run git add -A -- .{excludes}
if ! git diff --cached --quiet; then
  if git config user.email >/dev/null; then run git commit -q --no-verify -m {message}
  else run git -c user.name=Apiary -c user.email=apiary@localhost commit -q --no-verify -m {message}
  fi
fi
run git push -q origin "+HEAD:refs/heads/"{branch}
say "commit $(git rev-parse HEAD)"
say ok
"#,
        path = quote(path),
        message = quote(&message),
        branch = quote(branch),
    )
}

/// Removes the worktree at `path` and its branch in the server's clone. `-D`: the clone's own
/// branches never hold the merge, which was made in the coordinator's repository.
fn remove_script(path: &str, branch: &str) -> String {
    format!(
        r#"{PRELUDE}if git worktree list --porcelain | grep -qxF "worktree "{path}; then
  run git worktree remove --force {path}
fi
git branch -D {branch} >/dev/null 2>&1
say ok
"#,
        path = quote(path),
        branch = quote(branch),
    )
}

impl<H: Host> Apiary<H> {
    /// Runs a script on `server` in `directory`; the error names the server.
    pub(in crate::swarm) async fn on_server(
        &self,
        server: &str,
        directory: &str,
        what: &'static str,
        script: &str,
    ) -> Result<Vec<String>, ToolError> {
        let output = self.shell_on(server, directory, script).await?;
        outcome(&output).map_err(|why| HostError::new(what, format!("on {server}: {why}")).into())
    }

    /// The script's output, run under OpenCode's `build` agent or, on a server whose
    /// configuration removed it, under its first primary agent.
    async fn shell_on(
        &self,
        server: &str,
        directory: &str,
        script: &str,
    ) -> Result<String, HostError> {
        let refused = match self
            .host
            .remote_shell(server, directory, script, SHELL_AGENT)
            .await
        {
            Ok(output) => return Ok(output),
            Err(e) => e,
        };
        let agents = self.host.remote_agents(server, directory).await?;
        match agents.iter().find(|a| a.mode != "subagent") {
            Some(a) if a.name != SHELL_AGENT => {
                self.host
                    .remote_shell(server, directory, script, &a.name)
                    .await
            }
            Some(_) => Err(refused),
            None => Err(HostError::new(
                "session.shell",
                format!("{server} has no primary agent to run a shell command"),
            )),
        }
    }

    /// Places a bead's worker on `server`, in a worktree of that server's clone at `clone`
    /// made from the coordinator's HEAD (the repository at `home`). Without worktrees, or
    /// without an `origin` to move work through, the worker edits the clone itself, and the
    /// note says so.
    pub(super) async fn place_remote(
        &self,
        home: &str,
        server: &str,
        clone: &str,
        bead: &str,
    ) -> Result<Placement, ToolError> {
        let shared = |why: &str| Placement {
            directory: clone.to_string(),
            note: Some(format!(
                "{why}: the worker on {server} edits its clone {clone}, and its work stays there"
            )),
            ..Placement::default()
        };
        if !self.options.worktrees {
            return Ok(Placement {
                directory: clone.to_string(),
                ..Placement::default()
            });
        }
        let top = self.host.git(home, &["rev-parse", "--show-toplevel"]).await;
        let Ok(top) = top.map_err(ToolError::from).and_then(|t| ok(t, "git")) else {
            return Ok(shared("your directory is not a git repository"));
        };
        if self
            .host
            .git(&top, &["remote", "get-url", "origin"])
            .await?
            .code
            != 0
        {
            return Ok(shared("your repository has no remote \"origin\""));
        }
        let name = worktree_name(bead);
        let branch = format!("apiary/{name}");
        let base = base_ref(&name);
        let snapshot = format!(
            "{PRELUDE}name={}\nbranch={}\n{}set_base\nsay \"base $base\"\nsay ok\n",
            quote(&name),
            quote(&branch),
            script::SNAPSHOT
        );
        let said = outcome(&self.host.shell(&top, &snapshot).await?)
            .map_err(|why| HostError::new("snapshot of your working tree", why))?;
        let from = said
            .iter()
            .find_map(|l| l.strip_prefix("base "))
            .unwrap_or("HEAD");
        let push = self
            .host
            .git(&top, &["push", "-q", "origin", &format!("+{from}:{base}")])
            .await?;
        ok(push, "git push of your base to origin")?;
        // The clone takes a member of its pool, or the checkout an earlier attempt left, or
        // makes one, by the same script a start here runs.
        let fetch = fetch_base(&name);
        let said = self
            .retrying(ADD_ATTEMPTS, 50, || {
                self.take_checkout(Some(server), clone, (&name, &branch), &fetch)
            })
            .await?;
        // The server's clone has the base now: origin needs it no longer.
        let _ = self
            .host
            .git(&top, &["push", "-q", "origin", "--delete", &base])
            .await;
        let path = said
            .iter()
            .find_map(|l| l.strip_prefix("at "))
            .unwrap_or_default()
            .to_string();
        let links = script::links(&said);
        let made_on = (!said.iter().any(|l| l == "kept")).then(|| server.to_string());
        Ok(Placement::in_worktree(path, branch, links, made_on))
    }

    /// The clone of the coordinator's repository (at `home`) on `server`.
    pub(super) fn server_clone(&self, server: &str, home: &str) -> String {
        self.options
            .servers
            .iter()
            .find(|s| s.url == server)
            .and_then(|s| s.directory.clone())
            .unwrap_or_else(|| home.to_string())
    }

    /// Takes back a worktree `place_remote` made for a start that was then not recorded (its
    /// server filled meanwhile): the bead starts later wherever there is room, and nothing
    /// else would ever remove it. A worktree an earlier attempt left is kept, and so is one
    /// another instance's start of the same bead took meanwhile.
    pub(super) async fn unplace(&self, bead: &str, place: &Placement) {
        if let (Some(server), Some(path), Some(branch)) =
            (&place.made_on, &place.worktree, &place.branch)
        {
            let taken = self.log().swarm().bead(bead).is_some_and(|w| {
                w.state.is_active() && w.worktree.as_deref() == Some(path.as_str())
            });
            if taken {
                return;
            }
            let script = remove_script(path, branch);
            let _ = self
                .on_server(server, root_of(path), "worktree remove", &script)
                .await;
        }
    }

    /// On the worker's own machine, at `swarm_complete`: commits its worktree and pushes its
    /// branch to `origin`. Returns the commit pushed, or why it could not be.
    pub(super) async fn publish(&self, w: &Worker) -> Result<String, String> {
        let (Some(path), Some(branch)) = (&w.worktree, &w.branch) else {
            return Err("no worktree".into());
        };
        let pushed = async {
            self.commit_worker_changes(w, path).await?;
            let to = format!("+HEAD:refs/heads/{branch}");
            ok(
                self.host.git(path, &["push", "-q", "origin", &to]).await?,
                "git push",
            )?;
            ok(
                self.host.git(path, &["rev-parse", "HEAD"]).await?,
                "git rev-parse",
            )
        };
        pushed.await.map_err(|e: ToolError| e.to_string())
    }

    /// For a merge, from the coordinator's side: has the worker's server commit and push what
    /// the worker left, when the worker ended without pushing (it never called
    /// `swarm_complete`, or its push failed). Returns the commit pushed.
    pub(super) async fn push_remote(&self, w: &Worker) -> Result<String, ToolError> {
        let (Some(server), Some(path), Some(branch)) = (&w.server, &w.worktree, &w.branch) else {
            return Err(ToolError::Refused(format!("{} has no worktree", w.bead_id)));
        };
        let said = self
            .on_server(server, root_of(path), "push", &push_script(w, path, branch))
            .await?;
        Ok(said
            .iter()
            .find_map(|l| l.strip_prefix("commit "))
            .unwrap_or_default()
            .to_string())
    }

    /// The coordinator's repository, which a worker on another server came from.
    pub(super) async fn coordinator_root(&self, w: &Worker) -> Result<String, ToolError> {
        let home = w
            .parent_directory
            .clone()
            .or_else(|| self.home.borrow().clone())
            .unwrap_or_default();
        ok(
            self.host
                .git(&home, &["rev-parse", "--show-toplevel"])
                .await?,
            "git rev-parse",
        )
    }

    /// For a merge: fetches the branch a worker on another server pushed (having it pushed
    /// first if it never was) into `origin/<branch>` of the coordinator's repository. Returns
    /// that repository and the name to merge.
    pub(super) async fn fetch_pushed(&self, w: &Worker) -> Result<(String, String), ToolError> {
        let branch = w.branch.clone().unwrap_or_default();
        let top = self.coordinator_root(w).await?;
        if w.pushed_commit.is_none() {
            if let Err(e) = self.push_remote(w).await {
                return Err(ToolError::Refused(format!(
                    "{} never pushed {branch}, and its server could not push it now: {e}. \
                     Nothing was merged.",
                    w.bead_id
                )));
            }
        }
        let refspec = format!("+refs/heads/{branch}:refs/remotes/origin/{branch}");
        ok(
            self.host
                .git(&top, &["fetch", "-q", "origin", &refspec])
                .await?,
            "git fetch",
        )?;
        Ok((top, format!("origin/{branch}")))
    }

    /// Removes a worker's worktree on its server, then its refs on `origin`. The inner error
    /// is the refusal, which the caller reports without stopping.
    pub(super) async fn remove_remote(
        &self,
        w: &Worker,
        top: &str,
    ) -> Result<Result<(), String>, ToolError> {
        let (Some(server), Some(path), Some(branch)) = (&w.server, &w.worktree, &w.branch) else {
            return Ok(Err("no worktree".into()));
        };
        let script = remove_script(path, branch);
        if let Err(e) = self
            .on_server(server, root_of(path), "worktree remove", &script)
            .await
        {
            return Ok(Err(e.to_string()));
        }
        // Its OpenCode instance would hold memory for a directory that is gone.
        let _ = self.host.dispose_instance(Some(server), path).await;
        self.delete_pushed(top, branch).await?;
        Ok(Ok(()))
    }

    /// Deletes a worker's pushed `branch` from `origin`, from the coordinator's repository at
    /// `top`: it was merged, or given up.
    pub(super) async fn delete_pushed(&self, top: &str, branch: &str) -> Result<(), ToolError> {
        let refspec = format!("refs/heads/{branch}");
        let _ = self
            .host
            .git(top, &["push", "-q", "origin", "--delete", &refspec])
            .await?;
        Ok(())
    }
}
