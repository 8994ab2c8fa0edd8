//! A scratch git repository with one commit (`shared.txt`), for the tests of worktrees.
#![allow(dead_code)]
use crate::scratch::{git_in, Scratch};

pub struct Repo(pub Scratch);

impl Repo {
    pub fn new(with_commit: bool) -> Self {
        let repo = Repo(Scratch::new("apiary-wt"));
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "t@example.com"]);
        repo.git(&["config", "user.name", "T"]);
        if with_commit {
            repo.write("shared.txt", "base\n");
            repo.git(&["add", "-A"]);
            repo.git(&["commit", "-q", "-m", "base"]);
        }
        repo
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.0, args)
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.0.join(file), text).unwrap();
    }
}

pub fn in_repo(repo: &Repo) -> apiary::api::CallContext {
    apiary::api::CallContext {
        session_id: "ses_coord".into(),
        directory: repo.path().into(),
    }
}
