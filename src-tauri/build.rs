//! Generates the Tauri context: one `allow-<command>` permission per app command, and the
//! capabilities from `src-tauri/capabilities/` (the config lives at the repository root).

include!("command_names.rs");

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMAND_NAMES)),
    )
    .expect("tauri-build failed; is ui/dist built (npm --prefix ui run build)?");
}
