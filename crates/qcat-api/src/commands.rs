//! The registry of API commands: one entry per entry point of [`crate::Api`], with the
//! access rule it is checked against and whether its success is audited.
//!
//! The shell's handler list, its Tauri capability and the generated UI bindings are checked
//! against the IPC entries; `Api::guard` reads the access rule from here, and a test calls
//! every entry as a user without the permission and as one with it.

/// Who may call a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not: version and storage health (the status bar before sign-in),
    /// whether the first administrator is needed, sign-in itself.
    Public,
    /// Any signed-in user (their own session, password, UI error reports).
    SignedIn,
    /// Signed-in users holding this permission.
    Permission(&'static str),
}

/// One API command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The name (snake_case, as Tauri registers it).
    pub name: &'static str,
    /// What it does, for the generated API reference.
    pub summary: &'static str,
    pub access: Access,
    /// Whether a successful call writes an audit entry (every change does; refusals are
    /// always audited).
    pub audited: bool,
    /// Whether the desktop window may call it (the rest are `qcatctl` only).
    pub ipc: bool,
    /// The TypeScript type of its arguments object.
    pub args: &'static str,
    /// The TypeScript type it resolves to.
    pub returns: &'static str,
}

const fn command(
    name: &'static str,
    summary: &'static str,
    access: Access,
    audited: bool,
    args: &'static str,
    returns: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        summary,
        access,
        audited,
        ipc: true,
        args,
        returns,
    }
}

/// A command only `qcatctl` calls (no window needs it; e.g. writing an export to a file).
const fn cli_only(spec: CommandSpec) -> CommandSpec {
    CommandSpec { ipc: false, ..spec }
}

use Access::{Permission, Public, SignedIn};

pub const COMMANDS: &[CommandSpec] = &[
    command(
        "app_info",
        "Version, data dir (and where it came from), environment and uptime.",
        Public,
        false,
        NO_ARGS,
        "AppInfo",
    ),
    command(
        "storage_status",
        "Storage backend, location without credentials, health probed now, schema version.",
        Public,
        false,
        NO_ARGS,
        "StorageStatus",
    ),
    command(
        "setup_status",
        "Whether the store has no user yet, so the first administrator must be created.",
        Public,
        false,
        NO_ARGS,
        "SetupStatus",
    ),
    command(
        "create_first_admin",
        "Creates the first administrator of an empty store and signs them in; refused once any user exists.",
        Public,
        true,
        "{ input: NewUserInput }",
        "SessionView",
    ),
    command(
        "login",
        "Signs in (throttled per user and per source); the session stays in the core.",
        Public,
        true,
        "{ input: LoginInput }",
        "SessionView",
    ),
    command(
        "logout",
        "Ends the session.",
        SignedIn,
        true,
        NO_ARGS,
        "null",
    ),
    command(
        "current_session",
        "The signed-in user, their roles and permissions, or null.",
        Public,
        false,
        NO_ARGS,
        "SessionView | null",
    ),
    command(
        "change_password",
        "Sets a password: one's own, or another user's with rbac:edit.",
        SignedIn,
        true,
        "{ input: PasswordInput }",
        "null",
    ),
    command(
        "config_settings",
        "The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed.",
        Permission("config:view"),
        false,
        NO_ARGS,
        "ConfigView",
    ),
    command(
        "set_setting",
        "Saves one non-secret setting to the user's config file after validating the whole configuration; applies at restart.",
        Permission("config:edit"),
        true,
        "{ key: string; value: string }",
        "SettingChange",
    ),
    command(
        "log_files",
        "The log files: the current one first, then rotated (possibly gzipped) ones, newest first.",
        Permission("logs:view"),
        false,
        NO_ARGS,
        "LogFile[]",
    ),
    command(
        "log_lines",
        "Lines of one log file filtered by level, target and text; the newest last.",
        Permission("logs:view"),
        false,
        "{ query: LogQuery }",
        "LogLine[]",
    ),
    command(
        "log_frontend",
        "Records a UI error or warning in the console's log (target qcat_ui); the window's own reports, so also before sign-in.",
        Public,
        false,
        "{ entry: FrontendLog }",
        "null",
    ),
    command(
        "named_secrets",
        "The names of the named secrets (never their values).",
        Permission("config:view"),
        false,
        NO_ARGS,
        "string[]",
    ),
    command(
        "set_named_secret",
        "Stores a named secret in the OS keychain (or the server key file's store); write-only.",
        Permission("secrets:write"),
        true,
        "{ input: NamedSecretInput }",
        "null",
    ),
    command(
        "access_model",
        "The permission catalog, every role (grants, parents, effective permissions) and every user.",
        Permission("rbac:view"),
        false,
        NO_ARGS,
        "AccessModel",
    ),
    command(
        "explain_access",
        "Whether a user holds a permission and the path through roles that grants it.",
        Permission("rbac:view"),
        false,
        "{ username: string; permission: string }",
        "AccessExplanation",
    ),
    command(
        "save_role",
        "Creates a role, or replaces one as of the version the caller saw; refused if it would grant what the caller lacks or make a cycle.",
        Permission("rbac:edit"),
        true,
        "{ input: RoleInput }",
        "RoleView",
    ),
    command(
        "edit_role",
        "One change to a role (grant, revoke, inherit, uninherit, describe) as of the version the caller saw.",
        Permission("rbac:edit"),
        true,
        "{ role: string; change: RoleChange; seenVersion: number | null }",
        "RoleView",
    ),
    command(
        "delete_role",
        "Deletes a custom role nobody inherits from, as of the version the caller saw.",
        Permission("rbac:edit"),
        true,
        "{ name: string; seenVersion: number | null }",
        "null",
    ),
    command(
        "create_user",
        "Creates a user with roles the caller could hold themselves.",
        Permission("rbac:edit"),
        true,
        "{ input: NewUserInput }",
        "UserView",
    ),
    command(
        "set_user_roles",
        "Replaces a user's roles; the last enabled administrator keeps admin.",
        Permission("rbac:edit"),
        true,
        "{ username: string; roles: string[]; seenVersion: number | null }",
        "UserView",
    ),
    command(
        "set_user_enabled",
        "Enables or disables a user (disabling ends their sessions).",
        Permission("rbac:edit"),
        true,
        "{ username: string; enabled: boolean; seenVersion: number | null }",
        "UserView",
    ),
    command(
        "audit_page",
        "Audit entries matching a filter, newest first, before a cursor.",
        Permission("audit:view"),
        false,
        "{ query: AuditQuery }",
        "AuditEntryView[]",
    ),
    command(
        "audit_count",
        "How many audit entries match a filter.",
        Permission("audit:view"),
        false,
        "{ filter: AuditFilterInput }",
        "number",
    ),
    command(
        "audit_verify",
        "Starts a job that walks the hash chain and names the first entry that was changed, deleted or reordered; its result is an AuditVerifyReport.",
        Permission("audit:view"),
        true,
        NO_ARGS,
        "JobStarted",
    ),
    command(
        "audit_export_file",
        "Starts a job that writes matching audit entries as CSV or JSON to a new file in the data dir's exports folder; its result is an ExportedFile.",
        Permission("audit:export"),
        true,
        "{ input: AuditExportInput }",
        "JobStarted",
    ),
    command(
        "job_cancel",
        "Cancels a running job of this process: one's own, or anyone's with system:operate.",
        SignedIn,
        false,
        "{ input: JobIdInput }",
        "null",
    ),
    command(
        "jobs_recent",
        "The newest jobs of every console and agent on the store, newest first.",
        Permission("system:view"),
        false,
        NO_ARGS,
        "JobView[]",
    ),
    command(
        "schedules_list",
        "The configured schedules with their last and next runs.",
        Permission("system:view"),
        false,
        NO_ARGS,
        "ScheduleView[]",
    ),
    command(
        "runtime_status",
        "This process's tasks (state, restarts, last error), the consoles and agents on the store, and who leads each duty.",
        Permission("system:view"),
        false,
        NO_ARGS,
        "RuntimeStatus",
    ),
    cli_only(command(
        "audit_export",
        "Writes matching audit entries as CSV or JSON.",
        Permission("audit:export"),
        true,
        "",
        "",
    )),
    cli_only(command(
        "rotate_master_key",
        "Makes a new master key current and re-encrypts the user config file's secrets.",
        Permission("secrets:write"),
        true,
        "",
        "",
    )),
];

/// The registry entry for `name`.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|command| command.name == name)
}

/// The commands the window may call.
pub fn ipc_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(|command| command.ipc)
}

const NO_ARGS: &str = "Record<string, never>";
