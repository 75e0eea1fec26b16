//! Helpers shared by the `qcatctl` test binaries (each uses some of them).
#![allow(dead_code)]

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

/// Asserts `out` exited with `code`, showing its standard error otherwise.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts `out` succeeded (showing its standard error otherwise); returns its output.
pub fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The administrator's password every CLI test signs in with.
pub const ROOT_PASSWORD: &str = "root password 1";

/// `qcatctl` with a clean environment, the data dir `dir` and its `master.key`.
pub fn qcatctl(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qcatctl"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QCAT_DATA_DIR", dir)
        .env("QCAT_MASTER_KEY_FILE", dir.join("master.key"));
    command
}

/// `qcatctl args…` signed in as `root`, with nothing on standard input.
pub fn as_root(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut command = qcatctl(dir);
    command
        .env("QCAT_USER", "root")
        .env("QCAT_PASSWORD", ROOT_PASSWORD)
        .args(args);
    run_with_stdin(command, "")
}

/// A new data dir with a master key file and the administrator `root` (`ROOT_PASSWORD`).
pub fn data_dir_with_admin() -> tempfile::TempDir {
    let dir = qcat_testkit::temp_data_dir();
    succeeded(
        &qcatctl(dir.path())
            .args(["key", "init", "--to-file"])
            .arg(dir.path().join("master.key"))
            .output()
            .unwrap(),
    );
    let mut add = qcatctl(dir.path());
    add.args(["user", "add", "--admin", "root"]);
    succeeded(&run_with_stdin(add, &format!("{ROOT_PASSWORD}\n")));
    dir
}
