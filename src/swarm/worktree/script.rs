//! The one rule that makes a worktree usable by OpenCode, written once as POSIX `sh` and run
//! wherever the worktree is: on this machine through `Workspace::shell`, on another server
//! through `Workspace::remote_shell` (inside that server's add script). The hosts only run the
//! text; what it does is decided here.
//!
//! OpenCode makes one instance per directory and loads plugins from that directory's own
//! `.opencode/`, so a worktree gets links to what its checkout lacks of the clone's
//! `.opencode/` (the plugin, its installed `node_modules`, ...), and the clone's `info/exclude`
//! keeps the worktrees' folder out of `git status`. The links are reported, so that a commit of
//! the worker's changes leaves them out (`commit_excludes`).
//!
//! A script prints `apiary-…` lines: what it made, then `apiary-ok`, or `apiary-error: why`
//! and nothing after.

/// `s` as one word for `sh`.
pub(in crate::swarm) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What every script starts with: `say` prints a marker line, `fail` prints the error and
/// stops, and `run` runs a command, failing with its first words and its output. The script
/// then runs at the top level of the repository it was started in (`$top`), whose worktrees'
/// folder git is told to ignore (in `info/exclude`, so that no tracked file changes).
pub(in crate::swarm) const PRELUDE: &str = r#"say() { printf 'apiary-%s\n' "$*"; }
fail() { say "error: $*"; exit 1; }
run() { out=$("$@" 2>&1) || fail "$1 $2: $(printf '%s' "$out" | tr '\n' ' ')"; }
top=$(git rev-parse --show-toplevel 2>&1) || fail "not a git repository: $top"
cd "$top" || fail "cannot enter $top"
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
if ! grep -qxF /.apiary/ "$exclude" 2>/dev/null; then
  if [ -s "$exclude" ] && [ -n "$(tail -c 1 "$exclude")" ]; then echo >> "$exclude"; fi
  echo /.apiary/ >> "$exclude"
fi
"#;

/// Readies the worktree at `$path` of the repository at `$top`: `$top/.opencode` is linked into it, the whole folder when the checkout has
/// none, else entry by entry (never into `node_modules`, which is one install). Prints
/// `apiary-link <path relative to the worktree>` for each link, a link an earlier attempt made
/// included, so that a retried worker's commit leaves it out too.
pub(in crate::swarm) const READY: &str = r#"exists() { [ -e "$1" ] || [ -L "$1" ]; }
ours() { [ -L "$2" ] && [ "$(readlink "$2")" = "$1" ]; }
link() (
  from=$1 to=$2 rel=$3
  [ -d "$from" ] || exit 0
  if ours "$from" "$to"; then say "link $rel"; exit 0; fi
  if ! exists "$to"; then ln -s "$from" "$to" && say "link $rel"; exit 0; fi
  if [ ! -d "$to" ] || [ -L "$to" ]; then exit 0; fi
  for src in "$from"/* "$from"/.[!.]* "$from"/..?*; do
    exists "$src" || continue
    name=${src##*/}
    if ours "$src" "$to/$name"; then say "link $rel/$name"
    elif ! exists "$to/$name"; then ln -s "$src" "$to/$name" && say "link $rel/$name"
    elif [ "$name" != node_modules ] && [ -d "$src" ]; then link "$src" "$to/$name" "$rel/$name"
    fi
  done
)
link "$top/.opencode" "$path/.opencode" .opencode
"#;

/// Defines `set_base`, which sets `$base` to what the coordinator at `$top` sees: its HEAD,
/// plus its uncommitted and untracked (not ignored) files as a commit on top when it has any.
/// That commit is made with a copy of the real index (unchanged files are not hashed again),
/// so the coordinator's index, tree, stash and branch stay as they were; the ref
/// `refs/apiary/snapshot/$name` keeps it, so that a merge can leave those changes out of the
/// worker's (`inspect`). `.opencode` stays as committed: it is linked into every worktree.
pub(in crate::swarm) const SNAPSHOT: &str = r#"set_base() {
  # One git for three lines; split on newlines only (the path may hold spaces).
  IFS='
'
  set -- $(git rev-parse HEAD "HEAD^{tree}" --git-path index)
  unset IFS
  [ $# -eq 3 ] || fail "no commit in $top"
  base=$1 snap=refs/apiary/snapshot/$name ix=$3.apiary-$$
  cp "$3" "$ix" 2>/dev/null
  tree=$(export GIT_INDEX_FILE="$ix"; git add -A 2>&1 &&
    git reset -q --no-refresh HEAD -- .opencode 2>&1 && git write-tree 2>&1)
  ok=$?
  rm -f "$ix"
  [ $ok -eq 0 ] || fail "git add of your working tree: $(printf '%s' "$tree" | tr '\n' ' ')"
  if [ "$tree" = "$2" ]; then git update-ref -d "$snap" 2>/dev/null; return; fi
  base=$(git -c user.name=Apiary -c user.email=apiary@localhost commit-tree --no-gpg-sign \
    -p "$base" -m "uncommitted changes $branch starts from" "$tree") || fail "git commit-tree"
  git update-ref "$snap" "$base" || fail "git update-ref $snap"
}
"#;

/// The links a script reported making.
pub(in crate::swarm) fn links(said: &[String]) -> Vec<String> {
    said.iter()
        .filter_map(|l| l.strip_prefix("link "))
        .map(str::to_string)
        .collect()
}

/// The pathspecs that leave a worker's links out of `git add -A -- .`.
pub(in crate::swarm) fn commit_excludes(links: &[String]) -> Vec<String> {
    links.iter().map(|l| format!(":(exclude){l}")).collect()
}

/// What a script reported: its `apiary-…` lines without the prefix, or the error it gave (or
/// the end of its output, when it stopped without saying why).
pub(in crate::swarm) fn outcome(output: &str) -> Result<Vec<String>, String> {
    let said: Vec<String> = output
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("apiary-"))
        .map(str::to_string)
        .collect();
    if let Some(why) = said.iter().find_map(|l| l.strip_prefix("error: ")) {
        return Err(why.trim().to_string());
    }
    if said.last().is_some_and(|l| l == "ok") {
        return Ok(said);
    }
    let tail: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Err(format!(
        "the script stopped without finishing: {}",
        tail[tail.len().saturating_sub(3)..].join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_with_quotes_stays_one_word() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_script_succeeds_only_when_it_says_ok_last() {
        assert_eq!(
            outcome("noise\napiary-link .opencode\napiary-ok\n").unwrap(),
            ["link .opencode", "ok"]
        );
        assert_eq!(
            outcome("apiary-error: git fetch: no such ref\n"),
            Err("git fetch: no such ref".into())
        );
        let cut = outcome("apiary-link x\nKilled\n").unwrap_err();
        assert!(
            cut.contains("without finishing: apiary-link x Killed"),
            "{cut}"
        );
    }

    #[test]
    fn links_are_read_from_the_report_and_left_out_of_commits() {
        let said = ["link .opencode/node_modules", "kept", "link .opencode/x y"];
        let links = links(&said.map(String::from));
        assert_eq!(links, [".opencode/node_modules", ".opencode/x y"]);
        assert_eq!(
            commit_excludes(&links),
            [
                ":(exclude).opencode/node_modules",
                ":(exclude).opencode/x y"
            ]
        );
    }
}
