//! Generated files must equal what the Rust code generates, so nothing drifts from the
//! command table and the DTOs: the UI's TypeScript bindings, the shell's command list (one
//! Tauri permission per command) and the window's capability.
//! `UPDATE_BINDINGS=1 cargo test -p qcat-api --test bindings` rewrites them.

use std::path::PathBuf;

fn check(relative: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the Rust code; run `UPDATE_BINDINGS=1 cargo test -p qcat-api --test bindings` and commit the result",
        path.display()
    );
}

#[test]
fn committed_typescript_bindings_are_current() {
    check(
        qcat_api::typescript::BINDINGS_PATH,
        &qcat_api::typescript::bindings(),
    );
}

#[test]
fn the_shell_command_list_and_window_capability_follow_the_command_table() {
    check(
        "src-tauri/command_names.rs",
        &qcat_api::commands::shell_command_names(),
    );
    check(
        "src-tauri/capabilities/main.json",
        &qcat_api::commands::window_capability(),
    );
}
