//! Helpers shared by the `qcatctl` test binaries.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `command` with `stdin` piped in, capturing its output.
pub fn run_with_stdin(mut command: Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
