//! The verify gate: a worker's `swarm_complete` with success first runs the epic's verify
//! command (`npm test`) in the worker's directory. The command runs inside a POSIX `sh` script
//! written here, so that the host only runs text: the script bounds the time (GNU `timeout`
//! kills the command's process group; else a background watchdog kills the command's process
//! tree, found with `pgrep -P`: a shell without a terminal has no job control to make a group)
//! and what comes back (the last lines, each cut short), however much the command prints.
use super::worktree::script::quote;
use super::Apiary;
use crate::error::HostError;
use crate::host::Host;
use crate::projection::Worker;

/// The lines of the command's output that reach the core, and the characters of each.
const TAIL_LINES: usize = 40;
const LINE_CHARS: usize = 300;
/// The marker line the script ends with: `apiary-verify <exit status> <1 if timed out>`.
const MARKER: &str = "apiary-verify ";

/// One round of the command: its exit status (`None`: the script never reported, the
/// shell's own words are the tail), whether it was killed at the timeout, how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Round {
    pub command: String,
    pub code: Option<u32>,
    pub timed_out: bool,
    pub timeout_s: u64,
    pub tail: Vec<String>,
    pub duration_ms: u64,
}

impl Round {
    pub fn passed(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// The exit status as the log records it: 124 for a timeout, as GNU `timeout` says.
    pub fn exit_code(&self) -> u32 {
        if self.timed_out {
            124
        } else {
            self.code.unwrap_or(u32::MAX)
        }
    }

    /// What happened, in a few words: "`npm test` exited with status 1".
    pub fn what(&self) -> String {
        let c = &self.command;
        match self.code {
            _ if self.timed_out => format!("`{c}` timed out after {} s", self.timeout_s),
            Some(127) => format!("`{c}` could not start (exit 127: command not found)"),
            Some(126) => format!("`{c}` could not run (exit 126: not executable)"),
            Some(code) => format!("`{c}` exited with status {code}"),
            None => format!("`{c}` could not be run: the verify script did not finish"),
        }
    }

    /// The tail of its output as a fenced block, or a word that there was none.
    pub fn tail_block(&self) -> String {
        if self.tail.is_empty() {
            return "It printed nothing.".into();
        }
        format!(
            "The last {} lines of its output:\n```\n{}\n```",
            self.tail.len(),
            self.tail.join("\n")
        )
    }
}

/// The script that runs `command` with stdin from /dev/null, its output in a temporary file,
/// killed after `secs`, and prints only the bounded tail and the marker.
pub(super) fn script(command: &str, secs: u64) -> String {
    format!(
        r#"out=$(mktemp 2>/dev/null) || out="${{TMPDIR:-/tmp}}/apiary-verify.$$"
cmd={cmd}
late=0
if command -v timeout >/dev/null 2>&1; then
  t0=$(date +%s)
  timeout -k 5 {secs} sh -c "$cmd" </dev/null >"$out" 2>&1
  code=$?
  case $code in 124|137) [ $(( $(date +%s) - t0 )) -ge {secs} ] && late=1 ;; esac
else
  tree() {{ kill -STOP "$2"; for k in $(pgrep -P "$2"); do tree "$1" "$k"; done; kill -"$1" "$2"; kill -CONT "$2"; }}
  sh -c "$cmd" </dev/null >"$out" 2>&1 &
  pid=$!
  (sleep {secs}; : >"$out.late"; tree TERM $pid; sleep 5; tree KILL $pid) >/dev/null 2>&1 &
  dog=$!
  wait $pid
  code=$?
  kill $dog 2>/dev/null
  [ -e "$out.late" ] && late=1
fi
tail -n {lines} "$out" | cut -c 1-{chars}
printf '\n{MARKER}%s %s\n' "$code" "$late"
rm -f "$out" "$out.late"
"#,
        cmd = quote(command),
        lines = TAIL_LINES,
        chars = LINE_CHARS,
    )
}

/// Reads what the script printed. Only the marker's line and the lines before it count; the
/// tail is bounded here too, whatever the host returned.
pub(super) fn parse(output: &str) -> (Option<u32>, bool, Vec<String>) {
    let lines: Vec<&str> = output.lines().collect();
    let marker = lines.iter().rposition(|l| l.starts_with(MARKER));
    let (before, verdict) = match marker {
        Some(i) => {
            let mut words = lines[i][MARKER.len()..].split_whitespace();
            let code = words.next().and_then(|c| c.parse().ok());
            (&lines[..i], (code, words.next() == Some("1")))
        }
        None => (&lines[..], (None, false)),
    };
    let end = before
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let tail = before[end.saturating_sub(TAIL_LINES)..end]
        .iter()
        .map(|l| l.chars().take(LINE_CHARS).collect())
        .collect();
    (verdict.0, verdict.1, tail)
}

impl<H: Host> Apiary<H> {
    /// The verify command for `w`'s success: its spawn's (or its epic's), else the option.
    pub(super) fn verify_command(&self, w: &Worker) -> Option<String> {
        w.verify
            .clone()
            .or_else(|| self.options.verify.clone())
            .filter(|c| !c.trim().is_empty())
    }

    /// Runs `command` in `directory`, on the machine of the instance the worker's call reached:
    /// a worker on another server calls from its own plugin instance there, where its
    /// worktree is (as `publish` commits and pushes it).
    pub(super) async fn run_verify(&self, directory: &str, command: &str) -> Round {
        let timeout_s = self.options.verify_timeout_ms.div_ceil(1000);
        let started = self.host.now_ms();
        let output = self
            .host
            .shell(directory, &script(command, timeout_s))
            .await
            .unwrap_or_else(|e: HostError| e.to_string());
        let (code, timed_out, tail) = parse(&output);
        Round {
            command: command.to_string(),
            code,
            timed_out,
            timeout_s,
            tail,
            duration_ms: self.host.now_ms().saturating_sub(started),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Runs the script with only the tools it needs on PATH, `timeout` left out.
    fn run_without_timeout(command: &str) -> String {
        // One folder per call: the tests run in parallel.
        let tag = command.bytes().map(u64::from).sum::<u64>();
        let bin =
            std::env::temp_dir().join(format!("apiary-verify-bin-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&bin).unwrap();
        for tool in [
            "sh", "mktemp", "sleep", "tail", "cut", "rm", "pgrep", "echo",
        ] {
            let found = std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .unwrap();
            let path = String::from_utf8(found.stdout).unwrap();
            let _ = std::os::unix::fs::symlink(path.trim(), bin.join(tool));
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &script(command, 1)])
            .env("PATH", &bin)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&bin);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn without_gnu_timeout_the_watchdog_kills_the_command_and_its_children_and_says_so() {
        let output = run_without_timeout(
            "echo begun; sh -c 'sleep 30; : apiary-verify-sleeper'; echo never",
        );
        let (code, timed_out, tail) = parse(&output);
        assert!(timed_out, "{output}");
        assert_ne!(code, Some(0));
        assert_eq!(tail, vec!["begun".to_string()]);
        let left = std::process::Command::new("pgrep")
            .args(["-f", "apiary-verify-sleeper"])
            .output()
            .unwrap();
        assert!(
            left.stdout.is_empty(),
            "the command's child was left running"
        );
    }

    #[test]
    fn without_gnu_timeout_a_quick_command_keeps_its_exit_status() {
        let (code, timed_out, tail) = parse(&run_without_timeout("echo out; exit 4"));
        assert_eq!((code, timed_out), (Some(4), false));
        assert_eq!(tail, vec!["out".to_string()]);
    }

    #[test]
    fn output_without_the_marker_is_a_round_that_did_not_finish() {
        let (code, timed_out, tail) = parse("sh: cannot fork\n");
        assert_eq!((code, timed_out), (None, false));
        assert_eq!(tail, vec!["sh: cannot fork".to_string()]);
    }
}
