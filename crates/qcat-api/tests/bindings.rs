//! The committed TypeScript bindings must equal what the Rust code generates, so the UI's
//! types cannot drift from the API. `UPDATE_BINDINGS=1 cargo test -p qcat-api` rewrites them.

use std::path::PathBuf;

#[test]
fn committed_typescript_bindings_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(qcat_api::typescript::BINDINGS_PATH);
    let generated = qcat_api::typescript::bindings();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the Rust DTOs; run `UPDATE_BINDINGS=1 cargo test -p qcat-api --test bindings` and commit the result",
        path.display()
    );
}
