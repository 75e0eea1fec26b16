// The IPC commands the shell registers, shared by build.rs (which generates a Tauri
// permission per command) and the shell (whose tests check the handler list, the capability
// and the API's command registry agree). Keep in the order of qcat_api::commands::COMMANDS.
pub const COMMAND_NAMES: &[&str] = &[
    "app_info",
    "storage_status",
    "config_settings",
    "set_setting",
    "log_files",
    "log_lines",
    "log_frontend",
    "named_secrets",
    "set_named_secret",
];
