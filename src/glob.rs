//! Paths and globs of the files workers own: whether two patterns can name the same file
//! (reservations), and whether a path is one a pattern names (enforcement).
//!
//! The language is the one coordinators write: `*` is any run of characters within one path
//! segment, `?` one character, `**` as a whole segment any number of segments (none too), and
//! anything else itself. A pattern that names a folder (`src/`, or a path ending in `/**`)
//! names everything under it. `./` prefixes, `\` separators and repeated `/` are normalised.
//! Overlap ignores ASCII case, so that two workers never share a file on a case-insensitive
//! file system; ownership is exact.

/// One segment of a normalised pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole segments.
    Any,
    /// Characters, with `*` and `?` as wildcards.
    Chars(Vec<char>),
}

/// A pattern split into segments: `./src//a/` becomes `src`, `a`, `**`.
fn segments(pattern: &str) -> Vec<Segment> {
    let unified = pattern.replace('\\', "/");
    let folder = unified.ends_with('/');
    let mut out: Vec<Segment> = unified
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(|s| match s {
            "**" => Segment::Any,
            _ => Segment::Chars(s.chars().collect()),
        })
        .collect();
    if folder && out.last() != Some(&Segment::Any) {
        out.push(Segment::Any);
    }
    // `a/**/**` is `a/**`.
    out.dedup_by(|b, a| *a == Segment::Any && *b == Segment::Any);
    out
}

/// The pattern as it is compared: `./src//a/` is `src/a/**`.
pub fn normalise(pattern: &str) -> String {
    segments(pattern)
        .iter()
        .map(|s| match s {
            Segment::Any => "**".to_string(),
            Segment::Chars(c) => c.iter().collect(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn same_char(a: char, b: char, fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Whether some segment text matches both segment patterns.
fn chars_overlap(a: &[char], b: &[char], fold: bool) -> bool {
    // reach[i][j]: the first i symbols of a and the first j of b can match one same text.
    let (n, m) = (a.len(), b.len());
    let mut reach = vec![vec![false; m + 1]; n + 1];
    reach[0][0] = true;
    for i in 0..=n {
        for j in 0..=m {
            if !reach[i][j] {
                continue;
            }
            let (x, y) = (a.get(i), b.get(j));
            // A star may match nothing.
            if x == Some(&'*') {
                reach[i + 1][j] = true;
            }
            if y == Some(&'*') {
                reach[i][j + 1] = true;
            }
            match (x, y) {
                (Some(&'*'), Some(&'*')) => {}
                // A star takes one more character, which the other side names.
                (Some(&'*'), Some(_)) => reach[i][j + 1] = true,
                (Some(_), Some(&'*')) => reach[i + 1][j] = true,
                (Some(&'?'), Some(_)) | (Some(_), Some(&'?')) => reach[i + 1][j + 1] = true,
                (Some(&p), Some(&q)) if same_char(p, q, fold) => reach[i + 1][j + 1] = true,
                _ => {}
            }
        }
    }
    reach[n][m]
}

/// Whether some path matches both segment lists.
fn path_overlap(a: &[Segment], b: &[Segment], fold: bool) -> bool {
    let (n, m) = (a.len(), b.len());
    let mut reach = vec![vec![false; m + 1]; n + 1];
    reach[0][0] = true;
    for i in 0..=n {
        for j in 0..=m {
            if !reach[i][j] {
                continue;
            }
            let (x, y) = (a.get(i), b.get(j));
            if x == Some(&Segment::Any) {
                reach[i + 1][j] = true;
                if y.is_some() {
                    reach[i][j + 1] = true;
                }
            }
            if y == Some(&Segment::Any) {
                reach[i][j + 1] = true;
                if x.is_some() {
                    reach[i + 1][j] = true;
                }
            }
            if let (Some(Segment::Chars(p)), Some(Segment::Chars(q))) = (x, y) {
                if chars_overlap(p, q, fold) {
                    reach[i + 1][j + 1] = true;
                }
            }
        }
    }
    reach[n][m]
}

/// Whether two patterns can name the same file (ASCII case ignored).
pub fn overlap(a: &str, b: &str) -> bool {
    path_overlap(&segments(a), &segments(b), true)
}

/// Whether `path` (relative) is a file `pattern` names, case exact. A path with `*` or `?` in
/// its name is owned only by the same pattern written out: the wildcards cannot be told apart
/// from the characters.
pub fn owns(pattern: &str, path: &str) -> bool {
    if path.contains(['*', '?']) {
        return normalise(pattern) == normalise(path);
    }
    path_overlap(&segments(pattern), &segments(path), false)
}

/// The patterns of `theirs` that overlap one of `mine`, as `mine ~ theirs` pairs.
pub fn overlaps(mine: &[String], theirs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in mine {
        for b in theirs {
            if overlap(a, b) {
                out.push(if normalise(a) == normalise(b) {
                    normalise(a)
                } else {
                    format!("{} ~ {}", normalise(a), normalise(b))
                });
            }
        }
    }
    out
}

/// `path` relative to `root`, lexically (`.` and `..` resolved, `\` as `/`); `None` when it
/// leaves `root`.
pub fn relative_to(root: &str, path: &str) -> Option<String> {
    let unified = path.replace('\\', "/");
    let joined = if unified.starts_with('/') {
        unified
    } else {
        format!("{}/{unified}", root.trim_end_matches('/'))
    };
    let resolve = |text: &str| -> Option<Vec<String>> {
        let mut parts: Vec<String> = Vec::new();
        for part in text.replace('\\', "/").split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                p => parts.push(p.to_string()),
            }
        }
        Some(parts)
    };
    let (parts, root) = (resolve(&joined)?, resolve(root)?);
    if parts.len() <= root.len() || parts[..root.len()] != root[..] {
        return None;
    }
    Some(parts[root.len()..].join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_glob_overlaps_the_files_under_it() {
        assert!(overlap("src/**", "src/a.rs"));
        assert!(overlap("src/**", "src/deep/er/a.rs"));
        assert!(overlap("src/", "src/a.rs"));
        assert!(overlap("src", "src"));
        assert!(!overlap("src/**", "tests/a.rs"));
        assert!(!overlap("src/a.rs", "src/b.rs"));
    }

    #[test]
    fn a_star_stays_within_its_segment_and_a_double_star_does_not() {
        assert!(!overlap("*.md", "docs/x.md"), "*.md is top-level only");
        assert!(overlap("**/*.md", "docs/x.md"));
        assert!(overlap("**/*.md", "x.md"), "** may be no segment at all");
        assert!(overlap("docs/*", "docs/x.md"));
        assert!(!overlap("docs/*", "docs/a/x.md"));
        assert!(overlap("src/*.rs", "src/a*"));
        assert!(!overlap("src/*.rs", "src/*.ts"));
        assert!(overlap("a?c", "abc"));
        assert!(!overlap("a?c", "ac"));
    }

    #[test]
    fn two_globs_overlap_when_some_file_matches_both() {
        assert!(overlap("src/**/test_*.rs", "src/net/*.rs"));
        assert!(overlap("**/mod.rs", "src/**"));
        assert!(!overlap("src/**/*.rs", "docs/**"));
        assert!(overlap("*x*", "*y*"), "some name holds both x and y");
        assert!(!overlap("a*", "b*"));
    }

    #[test]
    fn prefixes_separators_and_case_are_normalised_for_overlap() {
        assert!(overlap("./src/a.rs", "src/a.rs"));
        assert!(overlap("src//a.rs", "src\\a.rs"));
        assert!(
            overlap("SRC/A.rs", "src/a.rs"),
            "one file on a case-insensitive disk"
        );
        assert_eq!(normalise("./src//a/"), "src/a/**");
        assert_eq!(normalise("a/**/**/b"), "a/**/b");
    }

    #[test]
    fn ownership_is_exact_about_case_and_names_whole_paths() {
        assert!(owns("src/**", "src/a.rs"));
        assert!(owns("src/a.rs", "./src/a.rs"));
        assert!(!owns("src/a.rs", "SRC/a.rs"));
        assert!(!owns("src/a.rs", "src/a.rs.bak"));
        assert!(!owns("src/*", "src/a/b.rs"));
        assert!(!owns("src/a.rs", "src/*"), "a path's star is a character");
        assert!(owns("src/*", "src/*"));
    }

    #[test]
    fn overlaps_name_each_pair_once() {
        let mine = vec!["src/**".to_string(), "README.md".to_string()];
        let theirs = vec!["src/a.rs".to_string(), "./README.md".to_string()];
        assert_eq!(overlaps(&mine, &theirs), ["src/** ~ src/a.rs", "README.md"]);
    }

    #[test]
    fn paths_are_made_relative_to_the_worktree_or_refused() {
        assert_eq!(
            relative_to("/r/w", "/r/w/src/a.rs").as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(
            relative_to("/r/w", "src/./b/../a.rs").as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(relative_to("/r/w/", "/r/w/x").as_deref(), Some("x"));
        assert_eq!(relative_to("/r/w", "/r/other/a.rs"), None);
        assert_eq!(relative_to("/r/w", "../w2/a.rs"), None);
        assert_eq!(relative_to("/r/w", "/r/w"), None);
    }
}
