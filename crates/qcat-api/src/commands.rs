//! The registry of API commands: one entry per entry point the shell exposes over IPC.
//!
//! The shell's handler list, its Tauri capability and the generated UI bindings are all
//! checked against this table, so an entry point cannot be added in one place only.

/// One API command as the UI calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The IPC name (snake_case, as Tauri registers it).
    pub name: &'static str,
    /// What it does, for the generated API reference.
    pub summary: &'static str,
    /// The TypeScript type of its arguments object.
    pub args: &'static str,
    /// The TypeScript type it resolves to.
    pub returns: &'static str,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "app_info",
        summary: "Version, data dir (and where it came from), environment and uptime.",
        args: NO_ARGS,
        returns: "AppInfo",
    },
    CommandSpec {
        name: "storage_status",
        summary: "Storage backend, location without credentials, health probed now, schema version.",
        args: NO_ARGS,
        returns: "StorageStatus",
    },
    CommandSpec {
        name: "config_settings",
        summary: "The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed.",
        args: NO_ARGS,
        returns: "ConfigView",
    },
    CommandSpec {
        name: "set_setting",
        summary: "Saves one non-secret setting to the user's config file after validating the whole configuration; applies at restart.",
        args: "{ key: string; value: string }",
        returns: "SettingChange",
    },
    CommandSpec {
        name: "log_files",
        summary: "The log files: the current one first, then rotated (possibly gzipped) ones, newest first.",
        args: NO_ARGS,
        returns: "LogFile[]",
    },
    CommandSpec {
        name: "log_lines",
        summary: "Lines of one log file filtered by level, target and text; the newest last.",
        args: "{ query: LogQuery }",
        returns: "LogLine[]",
    },
    CommandSpec {
        name: "log_frontend",
        summary: "Records a UI error or warning in the console's log (target qcat_ui).",
        args: "{ entry: FrontendLog }",
        returns: "null",
    },
    CommandSpec {
        name: "named_secrets",
        summary: "The names of the named secrets (never their values).",
        args: NO_ARGS,
        returns: "string[]",
    },
    CommandSpec {
        name: "set_named_secret",
        summary: "Stores a named secret in the OS keychain (or the server key file's store); write-only.",
        args: "{ input: NamedSecretInput }",
        returns: "null",
    },
];

const NO_ARGS: &str = "Record<string, never>";
