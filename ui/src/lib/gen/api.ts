// Generated from crates/qcat-api by `UPDATE_BINDINGS=1 cargo test -p qcat-api`.
// Do not edit: CI fails when this file differs from what the Rust code generates.

export type ErrorCode = "internal" | "invalid_input" | "invalid_config" | "not_found" | "conflict" | "storage_unavailable" | "storage_schema" | "unauthenticated" | "permission_denied" | "secrets_unavailable";

export const ERROR_CODES: readonly ErrorCode[] = ["internal", "invalid_input", "invalid_config", "not_found", "conflict", "storage_unavailable", "storage_schema", "unauthenticated", "permission_denied", "secrets_unavailable"];

export type ApiError = { code: ErrorCode, message: string, };

export type AppInfo = { version: string, dataDir: string, dataDirSource: DataDirSource, environment: Environment, uptimeSecs: number, 
/**
 * The operating system's UI language as a BCP 47 tag (`zh-CN`, `en-US`), when known.
 * The UI follows it unless the user picked a language.
 */
systemLocale: string | null, masterKey: MasterKeyStatus, };

export type MasterKeyStatus = { 
/**
 * e.g. `the OS keychain`, `key file /etc/qcat/master.key (QCAT_MASTER_KEY_FILE)`.
 */
source: string | null, keyId: string | null, error: ApiError | null, };

export type DataDirSource = "environment" | "platform" | "explicit";

export type Environment = "development" | "staging" | "production";

export type StorageBackend = "sqlite" | "postgres";

export type StorageHealth = "healthy" | "unreachable" | "failed";

export type StorageStatus = { backend: StorageBackend, 
/**
 * A file path, or a URL without its password.
 */
location: string, health: StorageHealth, roundTripMs: number | null, schemaVersion: number | null, knownSchemaVersion: number | null, error: ApiError | null, };

export type ConfigLayer = "defaults" | "file" | "dotenv" | "environment";

export type ConfigOrigin = { layer: ConfigLayer, file: string | null, line: number | null, variable: string | null, 
/**
 * The whole origin in words, e.g. `config file at /etc/qcat.toml:4`.
 */
description: string, };

export type ShadowedValue = { value: string, origin: ConfigOrigin, };

export type ConfigSetting = { key: string, section: string, value: string, secret: boolean, origin: ConfigOrigin, shadowed: Array<ShadowedValue>, };

export type ConfigProblem = { key: string, origin: ConfigOrigin | null, problem: string, fix: string, };

export type ConfigView = { settings: Array<ConfigSetting>, warnings: Array<ConfigProblem>, };

export type ConfigCheck = { ok: boolean, problems: Array<ConfigProblem>, warnings: Array<ConfigProblem>, };

export type SettingChange = { key: string, 
/**
 * The value the user file held before (masked like everywhere), if it set the key.
 */
before: string | null, after: string, 
/**
 * The user config file written.
 */
file: string, 
/**
 * The running console keeps its loaded configuration; the change applies at restart.
 */
restartRequired: boolean, };

export type LogFile = { name: string, bytes: number, compressed: boolean, current: boolean, };

export type LogQuery = { 
/**
 * A name from `log_files`; the current file when absent.
 */
file: string | null, minLevel: string | null, target: string | null, text: string | null, 
/**
 * At most [`MAX_LINES`].
 */
limit: number | null, };

export type LogLine = { ts: string, level: string, target: string, message: string, 
/**
 * The whole JSON line (fields, spans, backtrace) for the detail view.
 */
json: string, };

export type FrontendLog = { 
/**
 * `error`, `warn` or `info`.
 */
level: string, message: string, 
/**
 * The screen or component, and a JS stack when there is one.
 */
context: string | null, };

export type NamedSecretInput = { name: string, value: string, };

/** Every IPC command, its arguments and what it resolves to. */
export interface Commands {
  /** Version, data dir (and where it came from), environment and uptime. */
  app_info: { args: Record<string, never>; returns: AppInfo };
  /** Storage backend, location without credentials, health probed now, schema version. */
  storage_status: { args: Record<string, never>; returns: StorageStatus };
  /** The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed. */
  config_settings: { args: Record<string, never>; returns: ConfigView };
  /** Saves one non-secret setting to the user's config file after validating the whole configuration; applies at restart. */
  set_setting: { args: { key: string; value: string }; returns: SettingChange };
  /** The log files: the current one first, then rotated (possibly gzipped) ones, newest first. */
  log_files: { args: Record<string, never>; returns: LogFile[] };
  /** Lines of one log file filtered by level, target and text; the newest last. */
  log_lines: { args: { query: LogQuery }; returns: LogLine[] };
  /** Records a UI error or warning in the console's log (target qcat_ui). */
  log_frontend: { args: { entry: FrontendLog }; returns: null };
  /** The names of the named secrets (never their values). */
  named_secrets: { args: Record<string, never>; returns: string[] };
  /** Stores a named secret in the OS keychain (or the server key file's store); write-only. */
  set_named_secret: { args: { input: NamedSecretInput }; returns: null };
}
