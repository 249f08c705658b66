//! Records the commit the binary is built from, for `--version`: `KSNET_COMMIT` when set (image builds pass
//! it), else `git rev-parse --short=12 HEAD`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=KSNET_COMMIT");
    // HEAD and the ref of its branch, where git keeps them (in a linked worktree `.git` is a file and the refs live
    // in the main repository's git directory); a commit on another branch does not rebuild. Only existing paths:
    // cargo reruns a script watching a missing path on every build, and rebuilds the crate after it.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in &watched {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("KSNET_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KSNET_COMMIT={commit}");
}

/// The trimmed output of a successful `git` command.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
