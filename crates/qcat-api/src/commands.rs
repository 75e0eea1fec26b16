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
    /// The TypeScript type it resolves to.
    pub returns: &'static str,
}

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "app_info",
        summary: "Version, data dir (and where it came from), environment and uptime.",
        returns: "AppInfo",
    },
    CommandSpec {
        name: "storage_status",
        summary: "Storage backend, location without credentials, health probed now, schema version.",
        returns: "StorageStatus",
    },
    CommandSpec {
        name: "config_settings",
        summary: "The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed.",
        returns: "ConfigView",
    },
];
