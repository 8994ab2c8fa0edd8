//! A pool of ready worktrees (option `worktree_pool`): a few checkouts of the repository made
//! ahead of need, each readied for OpenCode and with its OpenCode instance already started,
//! so that a start only moves one onto its branch at the current base. Making a worktree and
//! booting an instance for it take a second or more; moving a ready one takes milliseconds.
//!
//! Members are found by name (`pool-*` under the worktrees folder, detached, unlocked), never
//! kept in memory: a restart or a kill -9 leaves members the next instance reuses, and one
//! half made is pruned. A member taken becomes its worker's worktree (the log records its
//! path), and merges and cleanup treat it as any other. What is done to them is POSIX `sh`,
//! like the rule that readies a worktree (`script`), so that it can run wherever they are.
use super::script::{self, quote, PRELUDE, READY};
use crate::error::{HostError, ToolError};
use std::future::pending;
use std::pin::pin;

use crate::host::Host;
use crate::projection::WorkerState;
use crate::swarm::race::first;
use crate::swarm::Apiary;

mod idle;

/// How long the refill after a burst of starts waits once the burst's workers are busy: their
/// first prompts load their instances (a second or more of CPU each), the pool's come after.
pub(crate) const REFILL_DELAY_MS: u64 = 2_000;
/// The longest the refill waits for a burst's workers to be busy.
const BURST_WAIT_MS: u64 = 60_000;

/// `free` prints the pool's free members: detached, unlocked worktrees named `pool-*`, those
/// a worker used first (`warm`), then the ones never used. `warm` marks a member a worker ran
/// in, in its own admin folder, which git removes with it.
const FREE: &str = r#"q() { "$@" >/dev/null 2>&1; }
marker() { printf '%s/apiary-warm' "$(git -C "$1" rev-parse --absolute-git-dir)"; }
members() {
  git worktree list --porcelain | awk -v pre="$top/.apiary/worktrees/pool-" '
    function out() { if (index(p, pre) == 1 && d && !l) print p }
    /^worktree / { out(); p = substr($0, 10); d = 0; l = 0; next }
    /^detached/ { d = 1 }
    /^locked/ { l = 1 }
    END { out() }'
}
free() {
  members | while IFS= read -r m; do [ -e "$(marker "$m")" ] && echo "$m"; done
  members | while IFS= read -r m; do [ -e "$(marker "$m")" ] || echo "$m"; done
}
"#;

/// Gives `$branch` its checkout: the worktree already on it (an earlier attempt's, or a member
/// a start took and gave up: prints `apiary-kept`), else a free member moved onto it (at the
/// commit `$base` that `set_base` sets, when the branch is new), else a new worktree: named as a member when there
/// is a pool (so that it can join it when its worker is done), else `.apiary/worktrees/$name`.
/// Prints `apiary-at PATH`. A member is claimed by locking it (the reason names the branch), so
/// that another process taking one at once passes it by; a new worktree made while another
/// process adds one can fail on the other's half-made entry, so it is tried again after a
/// short wait.
const TAKE: &str = r#"path=$(git worktree list --porcelain | awk -v b="branch refs/heads/$branch" '
  /^worktree / { p = substr($0, 10) } $0 == b { print p; exit }')
old=
if [ -n "$path" ]; then
  say kept
elif git rev-parse --verify -q "refs/heads/$branch" >/dev/null; then
  old=1
else
  set_base
fi
if [ -z "$path" ] && [ "$size" -gt 0 ]; then
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    q git worktree lock --reason "$branch" "$m" || continue
    if [ -n "$old" ]; then
      q git -C "$m" checkout -q "$branch"
    else
      q git -C "$m" checkout -q -b "$branch" "$base"
    fi
    moved=$?
    q git worktree unlock "$m"
    if [ "$moved" -eq 0 ]; then path=$m; break; fi
    q git worktree remove --force "$m"
  done <<MEMBERS
$(free)
MEMBERS
fi
if [ -z "$path" ]; then
  path="$top/.apiary/worktrees/$name"
  [ "$size" -eq 0 ] || path="$top/.apiary/worktrees/pool-$(date +%s)-$$-new"
  if [ -n "$old" ]; then
    set -- "$path" "$branch"
  else
    set -- -b "$branch" "$path" "$base"
  fi
  tries=0
  until out=$(git worktree add -q "$@" 2>&1); do
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || fail "git worktree add: $(printf '%s' "$out" | tr '\n' ' ')"
    sleep 1
  done
fi
say "at $path"
"#;

/// Gives the checkout at `$path`, whose worker is done and whose branch `$branch` goes next,
/// to the pool when it is a member: OpenCode's first session in a directory costs about a
/// second more than later ones (its per-directory start), so a used member is worth more than
/// a new one. Reset, cleaned (ignored files too: the next worker starts as from a clone) and
/// detached at its commit; it takes the place of a never-used member when the pool is full
/// (members beyond the size go, never-used ones listed last), or goes itself when all are used.
/// Prints `apiary-pooled` when kept, and `apiary-removed PATH` for each checkout removed.
const RECYCLE: &str = r#"kept=
case $path in
  "$top/.apiary/worktrees/pool-"*)
    if [ "$size" -gt 0 ] && q git -C "$path" reset -q --hard \
      && q git -C "$path" clean -qffdx \
      && q git -C "$path" checkout -q --detach; then
      touch "$(marker "$path")"
      have=0
      while IFS= read -r m; do
        [ -n "$m" ] || continue
        have=$((have + 1))
        [ "$have" -gt "$size" ] || continue
        q git worktree remove --force "$m" && say "removed $m"
      done <<MEMBERS
$(free)
MEMBERS
      [ -d "$path" ] && kept=1
    fi ;;
esac
if [ -n "$kept" ]; then
  say pooled
elif git worktree list --porcelain | grep -qxF "worktree $path"; then
  run git worktree remove --force "$path"
  say "removed $path"
fi
q git branch -D "$branch"
"#;

/// Brings the pool one step nearer `$size`: prunes what a killed process half made, unlocks a
/// member whose maker died before readying it (`pool-<time>-<pid>-<n>`, locked by
/// `add --lock`, where a take's lock names its branch; `READY` runs again at its take), removes members beyond the size, then adds at most
/// one, locked until `READY` has made its links and its instance is warm, so that no start
/// takes it half made and no recycle removes it. One
/// member a run lets a start in between two (see `refill_pool`).
const REFILL: &str = r#"git worktree prune
git worktree list --porcelain | awk -v pre="$top/.apiary/worktrees/pool-" '
  /^worktree / { p = substr($0, 10) }
  /^locked/ && !/^locked apiary\// && index(p, pre) == 1 { print p }' |
while IFS= read -r m; do
  pid=${m##*/pool-}; pid=${pid#*-}; pid=${pid%%-*}
  kill -0 "$pid" 2>/dev/null || q git worktree unlock "$m"
done
have=0
while IFS= read -r m; do
  [ -n "$m" ] || continue
  have=$((have + 1))
  if [ "$have" -gt "$size" ]; then q git worktree remove --force "$m" && say "removed $m"; fi
done <<MEMBERS
$(free)
MEMBERS
if [ "$have" -lt "$size" ]; then
  path="$top/.apiary/worktrees/pool-$(date +%s)-$$-$have"
  run git worktree add -q --lock --detach "$path" HEAD
"#;

/// The end of `REFILL`, after `READY`: the member is named, still locked: it stays locked while
/// its OpenCode instance warms up (`refill_pool`), so that no recycle or take removes it under
/// the instance starting in it (OpenCode would then boot an instance for a directory that is
/// gone, and install its config folder's packages from the registry).
const REFILLED: &str = r#"  say "member $path"
fi
"#;

/// Frees the member `$path` once warm.
const WARMED: &str = r#"q git worktree unlock "$path"
"#;

/// Removes every free member, printing `apiary-removed PATH` for each.
const EMPTY: &str = r#"while IFS= read -r m; do
  [ -n "$m" ] && q git worktree remove --force "$m" && say "removed $m"
done <<MEMBERS
$(free)
MEMBERS
"#;

/// The lines of `said` that start with `prefix`, without it.
fn said_after<'a>(said: &'a [String], prefix: &'a str) -> impl Iterator<Item = &'a str> {
    said.iter().filter_map(move |l| l.strip_prefix(prefix))
}

impl<H: Host> Apiary<H> {
    /// The pool's size on `server` (`None`: this machine): the option, never more than the
    /// workers that may run there.
    pub(crate) fn pool_size(&self, server: Option<&str>) -> u32 {
        if !self.options.worktrees {
            return 0;
        }
        let cap = match server {
            // With the `servers` option every worker goes to one of them: none starts here.
            None if !self.options.servers.is_empty() => 0,
            None => self.options.max_running,
            Some(url) => self
                .options
                .servers
                .iter()
                .find(|s| s.url == url)
                .map_or(0, |s| s.max_workers),
        };
        self.options.worktree_pool.min(cap)
    }

    /// Runs a pool script in the repository at `root` on `server` (`None`: here); what it
    /// said. The OpenCode instances of the checkouts it removed are disposed of: each holds
    /// about 90 MB of its server's memory for a directory that is gone.
    async fn pool_script(
        &self,
        server: Option<&str>,
        root: &str,
        body: &str,
    ) -> Result<Vec<String>, ToolError> {
        let size = self.pool_size(server);
        let text = format!("{PRELUDE}size={size}\n{FREE}{body}say ok\n");
        let said = match server {
            Some(url) => self.on_server(url, root, "worktree pool", &text).await?,
            None => script::outcome(&self.host.shell(root, &text).await?)
                .map_err(|why| HostError::new("worktree pool", why))?,
        };
        for path in said_after(&said, "removed ") {
            let _ = self.host.dispose_instance(server, path).await;
        }
        Ok(said)
    }

    /// Gives `branch` its checkout (folder `name` when new) in the repository at `root` on
    /// `server`, readied (see `TAKE`); `base` is the `sh` that defines `set_base`, which sets
    /// `$base`, the commit a new branch starts at. What the script said: `at PATH`, its links, `kept`.
    pub(in crate::swarm) async fn take_checkout(
        &self,
        server: Option<&str>,
        root: &str,
        (name, branch): (&str, &str),
        base: &str,
    ) -> Result<Vec<String>, ToolError> {
        let body = format!(
            "branch={}\nname={}\n{base}\n{TAKE}{READY}",
            quote(branch),
            quote(name)
        );
        self.pool_script(server, root, &body).await
    }

    /// The checkout of `branch` (folder `name` when new) in the repository at `root`, readied:
    /// its path and links. A new branch starts from the coordinator's working tree (see
    /// `SNAPSHOT`). Called under the git gate.
    pub(super) async fn checkout_for(
        &self,
        root: &str,
        name: &str,
        branch: &str,
    ) -> Result<(String, Vec<String>), ToolError> {
        let said = self
            .take_checkout(None, root, (name, branch), script::SNAPSHOT)
            .await?;
        let path = said_after(&said, "at ").next().map_or_else(
            || format!("{root}/{}/{name}", super::WORKTREES),
            str::to_string,
        );
        Ok((path, script::links(&said)))
    }

    /// Brings the pool of the repository at `root` on `server` (`None`: here) to its size
    /// behind running work, and warms each new member's OpenCode instance up (what a first
    /// prompt in a new directory costs is paid here, ahead of need). One member at a time, and none while this instance prepares a start:
    /// a start never waits for a refill. One refill per pool runs at a time; resolves to the
    /// members added.
    pub async fn refill_pool(&self, server: Option<&str>, root: &str) -> Result<u32, ToolError> {
        let key = format!("{}|{root}", server.unwrap_or_default());
        if !self.refilling.borrow_mut().insert(key.clone()) {
            return Ok(0);
        }
        let mut made = 0;
        let outcome = async {
            while self.preparing.borrow().is_empty() {
                let body = format!("{REFILL}{READY}{REFILLED}");
                let said = self.pool_script(server, root, &body).await?;
                let Some(path) = said_after(&said, "member ").next() else {
                    break;
                };
                made += 1;
                // A failure only means the worker that takes it pays the start itself.
                let _ = self.host.warm_instance(server, path).await;
                let body = format!("path={}\n{WARMED}", quote(path));
                self.pool_script(server, root, &body).await?;
            }
            Ok(made)
        }
        .await;
        self.refilling.borrow_mut().remove(&key);
        outcome
    }

    /// After the last start of a burst, there (`server`) or here: refills the pool the burst
    /// drew from. With the duties running it first waits for the burst's workers to be busy
    /// and `REFILL_DELAY_MS` more, so that warming the new members up does not slow the
    /// workers' own first prompts.
    pub(crate) async fn refill_after_burst(&self, server: Option<&str>, home: Option<&str>) {
        self.refill_when(server, home, self.starter_runs()).await;
    }

    /// Refills the pool of the repository of `home` (the instance's own when `None`), or of
    /// `server`'s clone of it.
    pub(crate) async fn refill_for(&self, server: Option<&str>, home: Option<&str>) {
        self.refill_when(server, home, false).await;
    }

    /// Refills a pool, after `REFILL_DELAY_MS` when `delay`, reporting what goes wrong rather
    /// than failing anything.
    async fn refill_when(&self, server: Option<&str>, home: Option<&str>, delay: bool) {
        if self.pool_size(server) == 0 || self.is_worker_instance() {
            return;
        }
        let Some(root) = self.pool_root(server, home).await else {
            return;
        };
        if delay {
            self.until_workers_busy().await;
            self.host.idle_sleep(REFILL_DELAY_MS).await;
        }
        if let Err(e) = self.refill_pool(server, &root).await {
            self.host.warn(&format!("worktree pool: {e}"));
        }
    }

    /// Resolves once no worker of this instance's directory is starting (spawned and not
    /// yet seen busy), or after `BURST_WAIT_MS`: a worker that never gets busy must not keep
    /// the pool empty.
    async fn until_workers_busy(&self) {
        let home = self.home.borrow().clone();
        let starting = || {
            self.log().swarm().workers().any(|w| {
                w.state == WorkerState::Starting && (home.is_none() || w.parent_directory == home)
            })
        };
        let deadline = self.host.now_ms() + BURST_WAIT_MS;
        while starting() && self.host.now_ms() < deadline {
            let changed = self.host.log_changed();
            first(changed, self.host.idle_sleep(500), pin!(pending::<()>())).await;
            if self.refresh().await.is_err() {
                return;
            }
        }
    }

    /// Where the pool of `home`'s repository is on `server`: that server's clone, or the
    /// repository's top level here; `None` when it has none (no repository, no commit).
    async fn pool_root(&self, server: Option<&str>, home: Option<&str>) -> Option<String> {
        let home = home
            .map(str::to_string)
            .or_else(|| self.home.borrow().clone())?;
        match server {
            Some(url) => Some(self.server_clone(url, &home)),
            None => self.worktree_root(&home).await.ok()?.ok(),
        }
    }

    /// Removes the checkout at `path` of the repository at `root` on `server` and its
    /// `branch`, or gives the checkout to the pool (see `RECYCLE`); whether it was kept.
    /// Called under the git gate here.
    pub(in crate::swarm) async fn release_checkout(
        &self,
        server: Option<&str>,
        root: &str,
        (path, branch): (&str, &str),
    ) -> Result<bool, ToolError> {
        let body = format!("path={}\nbranch={}\n{RECYCLE}", quote(path), quote(branch));
        let said = self.pool_script(server, root, &body).await?;
        Ok(said.iter().any(|l| l == "pooled"))
    }

    /// Removes the free members of every pool of `home`'s repository, here and on each
    /// server; how many.
    pub(crate) async fn empty_pools(&self, home: Option<&str>) -> Result<u32, ToolError> {
        let mut removed = 0;
        let servers: Vec<Option<String>> = std::iter::once(None)
            .chain(self.options.servers.iter().map(|s| Some(s.url.clone())))
            .collect();
        for server in servers.iter().map(Option::as_deref) {
            let Some(root) = self.pool_root(server, home).await else {
                continue;
            };
            let _turn = self.git_gate.enter().await;
            match self.pool_script(server, &root, EMPTY).await {
                Ok(said) => removed += said_after(&said, "removed ").count() as u32,
                // A server that does not answer keeps its members until it does.
                Err(e) if server.is_some() => self.host.warn(&format!("worktree pool: {e}")),
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn free_lists_only_detached_unlocked_members() {
        let dir = std::env::temp_dir().join(format!("apiary-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        let id = ["-c", "user.email=t@t", "-c", "user.name=t"];
        git(&[&id[..], &["commit", "-q", "--allow-empty", "-m", "base"]].concat());
        let top = std::fs::canonicalize(&dir).unwrap();
        let wt = |name: &str| format!("{}/.apiary/worktrees/{name}", top.display());
        git(&["worktree", "add", "-q", "--detach", &wt("pool-1"), "HEAD"]);
        git(&["worktree", "add", "-q", "--detach", &wt("pool-2"), "HEAD"]);
        git(&["worktree", "lock", &wt("pool-2")]);
        git(&[
            "worktree",
            "add",
            "-q",
            "-b",
            "apiary/b",
            &wt("pool-3"),
            "HEAD",
        ]);
        git(&["worktree", "add", "-q", "--detach", &wt("other"), "HEAD"]);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{PRELUDE}{FREE}free\n"))
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n", wt("pool-1"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
