//! What a worker's branch holds, read without changing any tree, index or ref: the review
//! reports it, the merge checks the coordinator's uncommitted changes against it, and cleanup
//! removes a finished worker with nothing in it. One `sh` script, run in the coordinator's
//! repository, gathers it all.
//!
//! A worker here usually leaves its edits uncommitted (the merge commits them), so its work is
//! taken as a commit object made from its worktree with a throwaway index, on top of its
//! branch: no ref points at it and nothing of the worktree changes. A worker on another
//! server has its work on `origin`: its objects are fetched, and no ref (nor `FETCH_HEAD`) is
//! written. The merge is tried with `git merge-tree`, which writes only objects.
use super::root_of;
use super::script::{commit_excludes, outcome, quote, PRELUDE};
use crate::error::{HostError, ToolError};
use crate::host::Host;
use crate::projection::Worker;
use crate::swarm::Apiary;

/// One file a worker changed: its path and its added and deleted lines (`-` for binary).
pub(in crate::swarm) struct Change {
    pub path: String,
    pub added: String,
    pub deleted: String,
}

/// What the script found.
#[derive(Default)]
pub(in crate::swarm) struct Work {
    /// The files the work changed since the commit its worker started from; renames as a
    /// deletion and an addition (each side is a file the merge writes).
    pub changes: Vec<Change>,
    /// Of those, the files the coordinator's tree has uncommitted changes to (staged,
    /// modified, deleted or untracked): a merge would overwrite them.
    pub blocked: Vec<String>,
    /// The files a merge into the coordinator's HEAD would conflict on.
    pub conflicts: Vec<String>,
    /// Everything of the work is in the coordinator's HEAD already.
    pub merged_in: bool,
    /// The uncommitted files of the coordinator's the worker started from (`SNAPSHOT`).
    pub snapshot: Option<String>,
    /// The worker's own changes as one commit on the coordinator's HEAD it started from,
    /// when it started from uncommitted files too: what a merge takes, leaving those out.
    pub tip: Option<String>,
}

/// What to look at beyond `merged_in`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::swarm) enum Look {
    /// Whether the work is merged in, only.
    MergedIn,
    /// Its files, and the coordinator's uncommitted ones.
    Files,
    /// Its files, and a dry run of the merge.
    All,
}

/// Sets `$tip` to the work's commit: `$tip` as given; else the worktree `$wt`'s HEAD when
/// nothing is uncommitted there, or a commit of its whole state (what `git add -A` would stage,
/// the pathspecs `$@` left out) on top of HEAD, the real index copied so that unchanged files
/// are not hashed again and the author fixed since no ref ever holds it; else `$branch` on
/// `origin`, fetched (`apiary-absent` when it is not there). Then prints `apiary-in` when the
/// work is in HEAD, and, as `$look` asks, `apiary-change`, `apiary-local` and
/// `apiary-conflict` lines: git's `-z` records with NUL and newline swapped, so that a name
/// with a newline stays one line.
const INSPECT: &str = r#"tmp=$(mktemp -d) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
lines() { tr '\0\n' '\n\0' | sed "s/^/apiary-$1 /"; }
if [ -n "$wt" ]; then
  cd "$wt" || fail "no worktree at $wt"
  cp "$(git rev-parse --git-path index)" "$tmp/index" 2>/dev/null
  export GIT_INDEX_FILE="$tmp/index"
  run git add -A -- . "$@"
  tree=$(git write-tree) || fail "git write-tree"
  tip=$(git rev-parse HEAD) || fail "no HEAD in $wt"
  if [ "$tree" != "$(git rev-parse "HEAD^{tree}")" ]; then
    tip=$(git -c user.name=Apiary -c user.email=apiary@localhost commit-tree --no-gpg-sign \
      -p "$tip" -m snapshot "$tree") || fail "git commit-tree"
  fi
  unset GIT_INDEX_FILE
  cd "$top" || fail "cannot enter $top"
elif [ -z "$tip" ]; then
  tip=$(git ls-remote origin "refs/heads/$branch" | cut -f1)
  if [ -z "$tip" ]; then say absent; say ok; exit 0; fi
  run git fetch -q --no-write-fetch-head origin "$tip"
fi
snap=$(git rev-parse -q --verify "refs/apiary/snapshot/${branch#apiary/}")
if [ -n "$snap" ] && git merge-base --is-ancestor "$snap" "$tip"; then
  say "snapshot $(git diff --name-only "$snap^" "$snap" | wc -l)"
  if own=$(git merge-tree --write-tree --merge-base="$snap" "$snap^" "$tip" 2>/dev/null); then
    if [ "$own" = "$(git rev-parse "$snap^^{tree}")" ]; then
      tip=$(git rev-parse "$snap^")
    else
      # The worker's commit, as its author made it: the same work gives the same commit.
      tip=$(log() { git log -1 --date=raw --format="$1" "$tip"; }
        export GIT_AUTHOR_NAME="$(log %an)" GIT_AUTHOR_EMAIL="$(log %ae)" \
          GIT_AUTHOR_DATE="$(log %ad)" GIT_COMMITTER_NAME="$(log %an)" \
          GIT_COMMITTER_EMAIL="$(log %ae)" GIT_COMMITTER_DATE="$(log %ad)"
        git commit-tree --no-gpg-sign -p "$snap^" -m "$(log %s)" "$own") ||
        fail "git commit-tree"
    fi
    say "tip $tip"
  fi
fi
git merge-base --is-ancestor "$tip" HEAD && say in
[ "$look" = merged-in ] && { say ok; exit 0; }
git diff --numstat -z --no-renames "HEAD...$tip" > "$tmp/diff" || fail "git diff"
lines change < "$tmp/diff"
git status --porcelain -z --untracked-files=all > "$tmp/status" || fail "git status"
lines local < "$tmp/status"
if [ "$look" = all ]; then
  git merge-tree --write-tree --name-only --no-messages -z HEAD "$tip" > "$tmp/merge"
  [ $? -le 1 ] || fail "git merge-tree --write-tree (git 2.38 or later)"
  tr '\0\n' '\n\0' < "$tmp/merge" | tail -n +2 | sed 's/^/apiary-conflict /'
fi
say ok
"#;

impl<H: Host> Apiary<H> {
    /// What the work of `w` holds, seen from the coordinator's repository: the commit `tip`
    /// when given (a merge's, its branch ready), else what `w` left. The inner error says why
    /// it cannot be seen from here (a branch never pushed).
    pub(in crate::swarm) async fn inspect(
        &self,
        w: &Worker,
        tip: Option<&str>,
        look: Look,
    ) -> Result<Result<Work, String>, ToolError> {
        let path = w.worktree.as_deref().unwrap_or_default();
        let branch = w.branch.as_deref().unwrap_or_default();
        let (root, mut vars) = match w.server {
            Some(_) => (self.coordinator_root(w).await?, String::new()),
            None => (root_of(path).to_string(), format!("wt={}\n", quote(path))),
        };
        if let Some(tip) = tip {
            vars = format!("tip={}\n", quote(tip));
        }
        let excludes: String = commit_excludes(&w.config_links)
            .iter()
            .map(|l| format!(" {}", quote(l)))
            .collect();
        let look = match look {
            Look::MergedIn => "merged-in",
            Look::Files => "files",
            Look::All => "all",
        };
        let text = format!(
            "{PRELUDE}set --{excludes}\nlook={look}\nbranch={}\n{vars}{INSPECT}",
            quote(branch)
        );
        let said = outcome(&self.host.shell(&root, &text).await?)
            .map_err(|why| HostError::new("worktree inspection", why))?;
        if said.iter().any(|l| l == "absent") {
            return Ok(Err(format!(
                "{branch} is not on origin yet (the merge has its server push it)"
            )));
        }
        let mut work = Work::default();
        let mut local: Vec<String> = Vec::new();
        let mut source_next = false;
        for line in &said {
            // A name with a newline came as one line with a NUL in its place.
            let (kind, record) = line.split_once(' ').unwrap_or((line, ""));
            let record = record.replace('\0', "\n");
            match kind {
                "in" => work.merged_in = true,
                "snapshot" => work.snapshot = Some(record.trim().to_string()),
                "tip" => work.tip = Some(record),
                "change" => {
                    let mut parts = record.splitn(3, '\t');
                    if let (Some(added), Some(deleted), Some(path)) =
                        (parts.next(), parts.next(), parts.next())
                    {
                        work.changes.push(Change {
                            path: path.to_string(),
                            added: added.to_string(),
                            deleted: deleted.to_string(),
                        });
                    }
                }
                // `XY path`; after a rename or a copy, its source as a record of its own.
                "local" if source_next => {
                    source_next = false;
                    local.push(record);
                }
                "local" => {
                    source_next = record.get(..2).is_some_and(|xy| xy.contains(['R', 'C']));
                    local.push(record.get(3..).unwrap_or_default().to_string());
                }
                "conflict" if !work.conflicts.contains(&record) => work.conflicts.push(record),
                _ => {}
            }
        }
        work.blocked = work
            .changes
            .iter()
            .filter(|c| local.contains(&c.path))
            .map(|c| c.path.clone())
            .collect();
        Ok(Ok(work))
    }
}
