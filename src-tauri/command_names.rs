// The IPC commands the shell registers, shared by build.rs (which generates a Tauri
// permission per command) and the shell (whose tests check the handler list, the capability
// and the API's command registry agree). Keep in the order of qcat_api::commands::COMMANDS
// (its IPC entries).
pub const COMMAND_NAMES: &[&str] = &[
    "app_info",
    "storage_status",
    "setup_status",
    "create_first_admin",
    "login",
    "logout",
    "current_session",
    "change_password",
    "config_settings",
    "set_setting",
    "log_files",
    "log_lines",
    "log_frontend",
    "named_secrets",
    "set_named_secret",
    "access_model",
    "explain_access",
    "save_role",
    "edit_role",
    "delete_role",
    "create_user",
    "set_user_roles",
    "set_user_enabled",
    "audit_page",
    "audit_count",
    "audit_verify",
    "audit_export_file",
];
