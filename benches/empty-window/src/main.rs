//! An empty Tauri window: the reference point for startup time and memory.
fn main() {
    tauri::Builder::default()
        .run(tauri::generate_context!())
        .expect("the Tauri event loop starts");
}
