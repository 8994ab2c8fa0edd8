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
use crate::host::Host;
use crate::swarm::Apiary;

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
/// a start took and gave up), else a free member moved onto it (at HEAD when new), else a new
/// worktree: named as a member when there is a pool (so that it can join it when its worker is
/// done), else `.apiary/worktrees/$name`. Prints `apiary-at PATH`. A member is claimed by
/// locking it, so that another process taking one at once passes it by; a new worktree made
/// while another process adds one can fail on the other's half-made entry, so it is tried
/// again after a short wait.
const TAKE: &str = r#"path=$(git worktree list --porcelain | awk -v b="branch refs/heads/$branch" '
  /^worktree / { p = substr($0, 10) } $0 == b { print p; exit }')
if [ -n "$path" ]; then
  :
elif [ "$size" -gt 0 ]; then
  while IFS= read -r m; do
    [ -n "$m" ] || continue
    q git worktree lock --reason "$branch" "$m" || continue
    if git rev-parse --verify -q "refs/heads/$branch" >/dev/null; then
      q git -C "$m" checkout -q "$branch"
    else
      q git -C "$m" checkout -q -b "$branch" "$(git rev-parse HEAD)"
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
  if git rev-parse --verify -q "refs/heads/$branch" >/dev/null; then
    set -- "$path" "$branch"
  else
    set -- -b "$branch" "$path" HEAD
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
/// Prints `apiary-pooled` when kept; otherwise the worktree is removed.
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
        q git worktree remove --force "$m"
      done <<MEMBERS
$(free)
MEMBERS
      [ -d "$path" ] && kept=1
    fi ;;
esac
if [ -n "$kept" ]; then
  say pooled
else
  run git worktree remove --force "$path"
fi
q git branch -D "$branch"
"#;

/// Brings the pool to `$size`: prunes what a killed process half made, removes members beyond
/// the size, then adds the missing ones (each readied by `READY`, then `REFILLED`).
const REFILL: &str = r#"git worktree prune
have=0
while IFS= read -r m; do
  [ -n "$m" ] || continue
  have=$((have + 1))
  if [ "$have" -gt "$size" ]; then q git worktree remove --force "$m"; fi
done <<MEMBERS
$(free)
MEMBERS
made=0
while [ "$have" -lt "$size" ]; do
  path="$top/.apiary/worktrees/pool-$(date +%s)-$$-$made"
  run git worktree add -q --detach "$path" HEAD
"#;

/// The end of `REFILL`'s loop: prints `apiary-member PATH` for each member made.
const REFILLED: &str = r#"  say "member $path"
  have=$((have + 1)); made=$((made + 1))
done
"#;

/// Removes every free member, printing `apiary-removed` for each.
const EMPTY: &str = r#"while IFS= read -r m; do
  [ -n "$m" ] && q git worktree remove --force "$m" && say removed
done <<MEMBERS
$(free)
MEMBERS
"#;

/// The lines of `said` that start with `prefix`, without it.
fn said_after<'a>(said: &'a [String], prefix: &'a str) -> impl Iterator<Item = &'a str> {
    said.iter().filter_map(move |l| l.strip_prefix(prefix))
}

impl<H: Host> Apiary<H> {
    /// The pool's size: the option, never more than `max_running`.
    pub(crate) fn pool_size(&self) -> u32 {
        // With the `servers` option workers go where there is room, most often elsewhere:
        // ready checkouts here would hold an instance each for nothing.
        if !self.options.worktrees || !self.options.servers.is_empty() {
            return 0;
        }
        self.options.worktree_pool.min(self.options.max_running)
    }

    /// Runs a pool script in the repository at `root`; what it said.
    async fn pool_script(&self, root: &str, body: &str) -> Result<Vec<String>, ToolError> {
        let text = format!("{PRELUDE}size={}\n{FREE}{body}say ok\n", self.pool_size());
        let output = self.host.shell(root, &text).await?;
        script::outcome(&output).map_err(|why| HostError::new("worktree pool", why).into())
    }

    /// The checkout of `branch` (folder `name` when new) in the repository at `root`, readied:
    /// its path and links. Called under the git gate.
    pub(super) async fn checkout_for(
        &self,
        root: &str,
        name: &str,
        branch: &str,
    ) -> Result<(String, Vec<String>), ToolError> {
        let body = format!(
            "branch={}\nname={}\n{TAKE}{READY}",
            quote(branch),
            quote(name)
        );
        let said = self.pool_script(root, &body).await?;
        let path = said_after(&said, "at ").next().map_or_else(
            || format!("{root}/{}/{name}", super::WORKTREES),
            str::to_string,
        );
        Ok((path, script::links(&said)))
    }

    /// Brings `root`'s pool to its size behind running work, then starts each new member's
    /// OpenCode instance (a call about its directory does). One refill runs at a time;
    /// resolves to the members added.
    pub async fn refill_pool(&self, root: &str) -> Result<u32, ToolError> {
        if self.refilling.replace(true) {
            return Ok(0);
        }
        let said = {
            let _turn = self.git_gate.enter().await;
            self.pool_script(root, &format!("{REFILL}{READY}{REFILLED}"))
                .await
        };
        self.refilling.set(false);
        let said = said?;
        let made: Vec<&str> = said_after(&said, "member ").collect();
        for path in &made {
            // A failure only means the worker that takes it starts its instance.
            let _ = self.host.status_map(None, Some(path)).await;
        }
        Ok(made.len() as u32)
    }

    /// Refills the pool of the repository of `directory` (the instance's own when `None`),
    /// reporting what goes wrong rather than failing anything.
    pub(crate) async fn refill_for(&self, directory: Option<&str>) {
        if self.pool_size() == 0 || self.is_worker_instance() {
            return;
        }
        let Some(directory) = directory
            .map(str::to_string)
            .or_else(|| self.home.borrow().clone())
        else {
            return;
        };
        let outcome = match self.worktree_root(&directory).await {
            Ok(Ok(root)) => self.refill_pool(&root).await.map(drop),
            Ok(Err(_)) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            self.host.warn(&format!("worktree pool: {e}"));
        }
    }

    /// Removes the checkout at `path` of the repository at `root` and its `branch`, or gives
    /// the checkout to the pool (see `RECYCLE`); whether it was kept. Called under the git
    /// gate.
    pub(super) async fn release_checkout(
        &self,
        root: &str,
        path: &str,
        branch: &str,
    ) -> Result<bool, ToolError> {
        let body = format!("path={}\nbranch={}\n{RECYCLE}", quote(path), quote(branch));
        let said = self.pool_script(root, &body).await?;
        Ok(said.iter().any(|l| l == "pooled"))
    }

    /// Removes the free members of `root`'s pool (the cleanup tool's); how many.
    pub(crate) async fn empty_pool(&self, root: &str) -> Result<u32, ToolError> {
        let _turn = self.git_gate.enter().await;
        let said = self.pool_script(root, EMPTY).await?;
        Ok(said_after(&said, "removed").count() as u32)
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
