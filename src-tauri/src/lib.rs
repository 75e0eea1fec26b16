//! The Tauri shell of QCAT Console: wiring only. It opens the core (`qcat_api::Api`), hands
//! it to the commands as managed state and registers the handlers; all behaviour lives in
//! the crates under `crates/`.

mod commands;

include!("../command_names.rs");

use qcat_api::{Api, ApiConfig, Mode, SessionSlot};
use tauri::{Emitter, Manager};

/// Starts the console. Exits with the error's code when the core cannot be opened at all
/// (the data dir cannot be created or the configuration is invalid).
pub fn run() {
    let fail = |err: qcat_api::ApiError| -> ! {
        eprintln!("qcat-console: error[{}]: {}", err.code, err.message);
        std::process::exit(err.code.exit_code());
    };
    let config = ApiConfig::from_environment(Mode::Console).unwrap_or_else(|err| fail(err));
    // Kept for the life of the process: the rotating log file's writer.
    let _log_file = qcat_api::logs::init_logging(&config).unwrap_or_else(|err| fail(err));
    let api = tauri::async_runtime::block_on(Api::open(config)).unwrap_or_else(|err| fail(err));
    // `qcat-console --big-screen`: the wall display's kiosk view, full screen.
    let big_screen = std::env::args().any(|arg| arg == "--big-screen");

    tauri::Builder::default()
        // Desktop notifications for CRITICAL alerts while the window is open.
        .plugin(tauri_plugin_notification::init())
        .manage(api.clone())
        .manage(SessionSlot::desktop())
        .invoke_handler(commands::handler())
        .setup(move |app| {
            // The core's live events reach the window as one Tauri event per topic.
            let handle = app.handle().clone();
            app.state::<Api>().forward_events(move |topic, events| {
                if let Err(err) = handle.emit(topic, events) {
                    tracing::warn!(topic, error = %err, "live event not delivered to the window");
                }
            });
            if big_screen && let Some(window) = app.get_webview_window("main") {
                window.set_fullscreen(true)?;
            }
            Ok(())
        })
        .on_page_load(move |webview, payload| {
            if big_screen && payload.event() == tauri::webview::PageLoadEvent::Finished {
                let _ = webview.eval("location.hash = '#/bigscreen'");
            }
        })
        .build(tauri::generate_context!())
        .expect("the Tauri app could not be built")
        .run(|app, event| {
            if let tauri::RunEvent::Exit = event {
                // The ordered shutdown: intake, work, the audit writer, the store.
                let api = app.state::<Api>().inner().clone();
                tauri::async_runtime::block_on(api.close());
            }
        });
}

/// Unless started with `--gpu-compositing` (or with `WEBKIT_DISABLE_COMPOSITING_MODE`
/// already set), WebKitGTK draws without accelerated compositing. The charts redraw a few
/// times a minute, which software rendering does with little CPU, while compositing keeps
/// GPU buffers (in ordinary memory under Mesa's llvmpipe, where there is no GPU) that
/// doubled the web process's memory over live panels and kept it growing
/// (scripts/bench-live-memory.py). It also avoids the blank windows some GPU drivers give.
/// The variable must be set before WebKit starts, so this is the first thing `main` does.
pub fn software_rendering_unless_asked() {
    const VARIABLE: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    if !cfg!(target_os = "linux")
        || std::env::args().any(|arg| arg == "--gpu-compositing")
        || std::env::var_os(VARIABLE).is_some()
    {
        return;
    }
    // SAFETY: called first thing in `main`, before any thread exists that could read the
    // environment concurrently.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var(VARIABLE, "1");
    }
}

#[cfg(test)]
mod tests {
    use super::COMMAND_NAMES;

    #[test]
    fn registered_commands_match_the_api_registry() {
        // The shell must expose exactly the commands the API declares, in the same order:
        // the permission list build.rs made and the handler list the table generated.
        let api: Vec<&str> = qcat_api::commands::ipc_commands()
            .map(|command| command.name)
            .collect();
        assert_eq!(COMMAND_NAMES, api.as_slice());
        assert_eq!(super::commands::HANDLED, api.as_slice());
    }

    #[test]
    fn the_window_capability_allows_exactly_the_registered_commands() {
        // Least privilege: nothing beyond our own commands, and every one of them.
        let text = include_str!("../capabilities/main.json");
        let capability: serde_json::Value = serde_json::from_str(text).unwrap();
        let allowed: Vec<String> = capability["permissions"]
            .as_array()
            .expect("permissions is a list")
            .iter()
            .map(|permission| permission.as_str().unwrap().to_owned())
            .collect();
        // Listening for the core's live events is the one core permission the window holds;
        // besides, desktop notifications (CRITICAL alerts while the window is open).
        let expected: Vec<String> = COMMAND_NAMES
            .iter()
            .map(|name| format!("allow-{}", name.replace('_', "-")))
            .chain([
                "core:event:allow-listen".to_owned(),
                "core:event:allow-unlisten".to_owned(),
                "notification:default".to_owned(),
            ])
            .collect();
        assert_eq!(allowed, expected);
    }
}
