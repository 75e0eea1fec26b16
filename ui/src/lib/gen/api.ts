// Generated from crates/qcat-api by `UPDATE_BINDINGS=1 cargo test -p qcat-api`.
// Do not edit: CI fails when this file differs from what the Rust code generates.

export type ErrorCode = "internal" | "invalid_input" | "invalid_config" | "not_found" | "conflict" | "storage_unavailable" | "storage_schema" | "unauthenticated" | "permission_denied" | "secrets_unavailable" | "throttled" | "storage_lost" | "cancelled" | "damaged" | "source_unavailable";

export const ERROR_CODES: readonly ErrorCode[] = ["internal", "invalid_input", "invalid_config", "not_found", "conflict", "storage_unavailable", "storage_schema", "unauthenticated", "permission_denied", "secrets_unavailable", "throttled", "storage_lost", "cancelled", "damaged", "source_unavailable"];

/** Every permission the core checks (the UI has a label for each). */
export const PERMISSIONS: readonly string[] = ["monitor:view", "monitor:edit", "alerts:view", "alerts:silence", "alerts:edit", "backup:view", "backup:run", "backup:restore", "backup:edit", "logs:view", "config:view", "config:edit", "secrets:write", "rbac:view", "rbac:edit", "audit:view", "audit:export", "system:view", "system:operate"];

/** The built-in roles (the UI has a description for each). */
export const BUILTIN_ROLES: readonly string[] = ["admin", "auditor", "operator", "viewer"];

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

export type SetupStatus = { 
/**
 * No user exists yet: the window shows the first-administrator form.
 */
needsFirstAdmin: boolean, };

export type LoginInput = { username: string, password: string, };

export type NewUserInput = { username: string, displayName: string, password: string, roles: Array<string>, };

export type PasswordInput = { username: string, 
/**
 * The new password.
 */
password: string, 
/**
 * The caller's current password: required to change one's own.
 */
currentPassword: string | null, };

export type SessionView = { username: string, displayName: string, roles: Array<string>, 
/**
 * Every permission the user holds, by name (`backup:restore`); the UI shows only the
 * screens and actions these allow (the core checks again on every call).
 */
permissions: Array<string>, expiresAtMs: number, idleTimeoutSecs: number, };

export type UserView = { username: string, displayName: string, enabled: boolean, createdAtMs: number, lastLoginMs: number | null, roles: Array<string>, };

export type PermissionView = { name: string, resource: string, action: string, summary: string, };

export type RoleView = { name: string, description: string, builtin: boolean, 
/**
 * The role's own grant patterns.
 */
grants: Array<string>, parents: Array<string>, 
/**
 * Permission names granted directly by a pattern of this role.
 */
direct: Array<string>, 
/**
 * Permission names held only through a parent.
 */
inherited: Array<string>, };

export type AccessModel = { 
/**
 * The version of users and roles this model shows; changes made from it send it back
 * (`seenVersion`) so a change on a stale view is refused instead of undoing another's.
 */
version: number, permissions: Array<PermissionView>, roles: Array<RoleView>, users: Array<UserView>, };

export type RoleInput = { name: string, description: string, grants: Array<string>, parents: Array<string>, 
/**
 * True to create (refused if it exists), false to replace an existing role.
 */
create: boolean, 
/**
 * The `AccessModel.version` the caller's view showed; a replace made on an older view is
 * refused as a conflict.
 */
seenVersion: number | null, };

export type RoleChange = { "kind": "grant", "value": string } | { "kind": "revoke", "value": string } | { "kind": "inherit", "value": string } | { "kind": "uninherit", "value": string } | { "kind": "describe", "value": string };

export type AccessExplanation = { username: string, permission: string, allowed: boolean, enabled: boolean, 
/**
 * From one of the user's roles up through parents to the role holding the grant.
 */
path: Array<string>, 
/**
 * The grant pattern that matched.
 */
grant: string | null, };

export type AuditFilterInput = { actor: string | null, 
/**
 * Exact, or a prefix ending in `.` or `*`.
 */
action: string | null, target: string | null, 
/**
 * `ok`, `denied` or `failed`.
 */
outcome: string | null, sinceMs: number | null, untilMs: number | null, };

export type AuditQuery = { filter: AuditFilterInput, 
/**
 * Entries with a smaller sequence number than this (the last one of the previous page).
 */
beforeSeq: number | null, 
/**
 * At most this many (default 200, at most 10 000).
 */
limit: number | null, };

export type AuditEntryView = { seq: number, atMs: number, actor: string, action: string, target: string, source: string, outcome: string, detail: string, 
/**
 * JSON text of the state before and after a change.
 */
before: string | null, after: string | null, hash: string, };

export type AuditVerifyReport = { ok: boolean, entries: number, firstSeq: number | null, lastSeq: number | null, checkpointSeq: number | null, 
/**
 * The first entry that does not hold.
 */
brokenSeq: number | null, problem: string | null, 
/**
 * Anchors in the data dir's anchor file, and the newest one the trail was checked
 * against (`null`: nothing anchored yet, or no master key to check with).
 */
anchors: number, anchoredSeq: number | null, };

export type AuditExportInput = { filter: AuditFilterInput, 
/**
 * `csv` or `json`.
 */
format: string, };

export type ExportedFile = { 
/**
 * Where the file was written (the data dir's `exports` folder).
 */
path: string, entries: number, };

export type JobState = "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export type JobView = { id: string, 
/**
 * `audit.verify`, `audit.export`, `audit.maintenance`…
 */
kind: string, state: JobState, 
/**
 * Who started it (a user, or `scheduler`).
 */
actor: string, 
/**
 * The member (process) running it.
 */
member: string, startedMs: number, endedMs: number | null, done: number, total: number | null, unit: string, phase: string, 
/**
 * Units per second (live progress only; 0 from a stored row).
 */
rate: number, etaSecs: number | null, 
/**
 * What it produced (per kind: `AuditVerifyReport`, `ExportedFile`…).
 */
result: unknown, error: string | null, };

export type JobStarted = { id: string, };

export type JobIdInput = { id: string, };

export type ScheduleView = { name: string, 
/**
 * A cron expression or `@every <duration>`.
 */
spec: string, timeZone: string, jitterMs: number, 
/**
 * `run_once` or `skip`.
 */
missed: string, lastStartedMs: number | null, lastEndedMs: number | null, 
/**
 * `ok`, `failed` or `running`.
 */
lastResult: string | null, lastError: string | null, 
/**
 * When the next run is due (set by the leading process).
 */
nextMs: number | null, };

export type TaskView = { name: string, 
/**
 * `intake`, `work` or `audit`: when it stops at shutdown.
 */
stage: string, 
/**
 * `running`, `restarting`, `stopped` or `failed`.
 */
state: string, restarts: number, lastError: string | null, lastErrorAtMs: number | null, startedAtMs: number, };

export type TargetView = { name: string, 
/**
 * `host`, `postgres`, `redis`, `prometheus` or `prometheus-server`.
 */
kind: string, 
/**
 * The URL without credentials.
 */
url: string, 
/**
 * `none`, `secret:NAME` or `encrypted`; the password itself is never sent.
 */
password: string, 
/**
 * `development`, `staging` or `production`.
 */
environment: string, intervalMs: number, timeoutMs: number, queries: { [key in string]: string }, version: number, 
/**
 * `store` (defined in the window or with `qcatctl target add`) or `config` (the
 * config file's `[monitoring.targets.NAME]`: changed there, not here).
 */
origin: string, health: TargetHealthView | null, };

export type TargetHealthView = { up: boolean, 
/**
 * Since when it has been in this state (ms).
 */
sinceMs: number, 
/**
 * `dns`, `refused`, `timeout`, `tls`, `auth`, `permission`, `protocol` or `config`.
 */
errorKind: string | null, error: string | null, checkedMs: number, durationMs: number, samples: number, 
/**
 * PostgreSQL targets with `pg_stat_statements`: the top statements by total time.
 */
statements: Array<StatementView>, };

export type StatementView = { queryId: string, 
/**
 * The statement's text, at most 300 characters.
 */
query: string, calls: number, totalMs: number, meanMs: number, rows: number, };

export type TargetInput = { name: string, kind: string, url: string, 
/**
 * Absent: keep the stored password. `""`: none. `secret:NAME`: a named secret. Any
 * other text: the password itself, encrypted under the master key before it is stored.
 */
password: string | null, environment: string | null, intervalMs: number, timeoutMs: number | null, queries: { [key in string]: string }, 
/**
 * The version the editor showed (0 for a new target); absent: apply to what is stored.
 */
seenVersion: number | null, };

export type TargetNameInput = { name: string, };

export type QuickStartInput = { what: string, };

export type CheckView = { ok: boolean, steps: Array<CheckStepView>, samples: number, failure: string | null, message: string, };

export type CheckStepView = { step: string, ok: boolean, millis: number, detail: string, };

export type QueryInput = { 
/**
 * `name` or `name{label="value",…}` (`=`, `!=`, `=~`, `!~`).
 */
series: string, fromMs: number, toMs: number, 
/**
 * At most this many points per series (2 to 100 000).
 */
maxPoints: number, 
/**
 * `value` (default), `rate`, or a quantile `0.99` of a histogram's buckets.
 */
function: string | null, };

export type SeriesView = { key: string, name: string, labels: { [key in string]: string }, 
/**
 * `raw`, `1m` or `1h`: the tier it was read from.
 */
tier: string, stepMs: number, t: number[], avg: Array<number>, min: Array<number>, max: Array<number>, last: Array<number>, };

export type OverviewView = { targets: Array<TargetView>, 
/**
 * The newest value of each headline series, per target that has it.
 */
latest: Array<LatestValue>, 
/**
 * Whether this process collects (it leads the collection duty).
 */
collectingHere: boolean, };

export type LatestValue = { target: string, series: string, t: number, value: number, };

export type BackupView = { id: string, label: string, 
/**
 * `full`, `diff` or `incr`.
 */
kind: string, parent: string | null, full: string, startedMs: number, finishedMs: number, sources: Array<BackupSourceView>, logicalBytes: number, storedBytes: number, 
/**
 * Logical bytes per stored byte of this backup (deduplication and compression).
 */
dedupRatio: number, 
/**
 * Only from `backup_show`: the chain, tables, packs and their verification.
 */
detail?: BackupDetailView, };

export type BackupSourceView = { name: string, kind: string, environment: string, location: string, database: string, serverVersion: string, bytes: number, tables: number, rows: number, };

export type BackupRunInput = { 
/**
 * `full`, `diff` or `incr`.
 */
kind: string, 
/**
 * Sources by target name; empty: every source in `backup.sources`.
 */
sources: Array<string>, label: string | null, };

export type BackupIdInput = { id: string, };

export type BackupVerifyInput = { 
/**
 * Backups to verify; empty: all.
 */
ids: Array<string>, 
/**
 * Rolling verification instead: whole packs, least recently verified first, for about
 * this long; the result carries the coverage of the last 7 days.
 */
rollingBudgetMs: number | null, };

export type BackupRestoreInput = { id: string, 
/**
 * The source of the backup to restore.
 */
source: string, 
/**
 * A target name (its own database: the original, overwritten) or a `postgres://` URL
 * (a new database when it does not exist, else overwritten).
 */
destination: string, 
/**
 * The database name, typed: needed to overwrite a database and for production.
 */
confirm: string | null, 
/**
 * pg_restore's parallel jobs (default: the machine's cores, at most 8).
 */
jobs: number | null, };

export type RestorePlanView = { id: string, source: string, 
/**
 * Where, without credentials.
 */
location: string, database: string, 
/**
 * `create` (a new database) or `overwrite` (objects the backup holds are replaced,
 * after a safety backup of the database).
 */
action: string, environment: string, 
/**
 * The typed confirmation the restore needs (the database name), if any.
 */
confirmation: string | null, 
/**
 * Scratch space the reassembled archive takes.
 */
bytesNeeded: number, tables: number, rows: number, 
/**
 * The mark an earlier restore that never finished left on the database: it holds a
 * partial restore.
 */
halfRestored: string | null, };

export type BackupExpireInput = { dryRun: boolean, };

export type ExpireView = { dryRun: boolean, expired: Array<string>, kept: Array<string>, packsRemoved: number, bytesFreed: number, };

export type BackupPolicyInput = { sources: Array<string>, keepFull: number, keepAge: string, scheduleFull: string, scheduleDiff: string, scheduleIncr: string, scheduleVerify: string, scheduleDrill: string, verifyBudget: string, rto: string, };

export type DeviationsInput = { 
/**
 * `name` or `name{label="value",…}`: one series.
 */
series: string, sinceMs: number, untilMs: number, 
/**
 * How long a deviation lasts before it is an event (default `baseline.deviation_for`).
 */
forMs: number | null, 
/**
 * Robust units (≈ σ) past the expected value (default `baseline.threshold`).
 */
threshold: number | null, };

export type DeviationView = { startMs: number, 
/**
 * `null` while it lasts.
 */
endMs: number | null, 
/**
 * When it became an event (start + `for`).
 */
raisedMs: number, peakScore: number, 
/**
 * `above` or `below`.
 */
direction: string, };

export type DeviationsView = { series: string, deviations: Array<DeviationView>, 
/**
 * Minutes read (learning included) and minutes scored in the range.
 */
minutesRead: number, minutesScored: number, 
/**
 * Share of the minimum history learned by the end of the range, 0..1.
 */
learning: number, };

export type BandInput = { 
/**
 * One series, every label given with `=`.
 */
series: string, sinceMs: number, untilMs: number, 
/**
 * At most this many points (minutes are averaged into wider steps); default 600.
 */
maxPoints: number | null, };

export type BandView = { series: string, t: number[], value: Array<number>, expected: Array<number | null>, low: Array<number | null>, high: Array<number | null>, 
/**
 * The largest score (by size) in each step.
 */
score: Array<number | null>, deviations: Array<DeviationView>, marks: Array<MarkView>, 
/**
 * Share of the minimum history learned by the end of the range, 0..1.
 */
learning: number, threshold: number, stepMs: number, };

export type BaselineSeriesView = { series: string, 
/**
 * Share of the minimum history learned, 0..1 ("learning: 40 %").
 */
learning: number, 
/**
 * How the expected value was found: `weekly`, `dayType`, `daily`, `flat`; null while
 * learning.
 */
level: string | null, lastMs: number | null, value: number | null, expected: number | null, low: number | null, high: number | null, score: number | null, 
/**
 * The deviation event in progress, if any.
 */
deviation: DeviationView | null, updatedMs: number, };

export type BaselineStatusView = { 
/**
 * The configured selectors (`baseline.series`).
 */
selectors: Array<string>, threshold: number, forMs: number, minHistoryMs: number, series: Array<BaselineSeriesView>, };

export type DeviationEventsInput = { sinceMs: number, untilMs: number, 
/**
 * One series (its canonical key), or every series.
 */
series: string | null, 
/**
 * At most this many, newest first (default 500).
 */
limit: number | null, };

export type DeviationEventView = { series: string, startMs: number, 
/**
 * `null` while it lasts.
 */
endMs: number | null, 
/**
 * When it became an event (start + `for`).
 */
raisedMs: number, peakScore: number, 
/**
 * `above` or `below`.
 */
direction: string, };

export type RangeInput = { sinceMs: number, untilMs: number, };

export type MarkInput = { 
/**
 * `incident` or `maintenance`.
 */
kind: string, fromMs: number, untilMs: number, 
/**
 * A selector the mark applies to; empty or null: every series.
 */
series: string | null, note: string | null, };

export type MarkView = { id: string, kind: string, fromMs: number, untilMs: number, 
/**
 * Empty: every series.
 */
series: string, note: string, createdBy: string, createdMs: number, };

export type CaptureInput = { 
/**
 * "before release 1.4": at most 80 characters.
 */
name: string, description: string | null, fromMs: number, untilMs: number, 
/**
 * Selectors; every stored series each matches is captured. Empty: the application's
 * headline series (latency percentiles, error ratio, rate, throughput, in-flight).
 */
series: Array<string>, };

export type NamedBaselineView = { name: string, description: string, fromMs: number, untilMs: number, selectors: Array<string>, timeZone: string, 
/**
 * Empty in lists; every series in `baseline_show` and after a capture.
 */
series: Array<NamedSeriesView>, seriesCount: number, createdBy: string, createdMs: number, };

export type NamedSeriesView = { series: string, minutes: number, mean: number, p50: number, p95: number, p99: number, 
/**
 * Median per hour of day (0–23, the desk's zone).
 */
hourly: Array<number | null>, };

export type CompareInput = { 
/**
 * The named baseline compared against.
 */
name: string, 
/**
 * The compared period; default: the last 24 h (or the baseline's length, if shorter)
 * up to now.
 */
sinceMs: number | null, untilMs: number | null, 
/**
 * Another named baseline to compare instead of a period ("1.5 against 1.4").
 */
against: string | null, };

export type ComparisonView = { baseline: string, baselineFromMs: number, baselineUntilMs: number, 
/**
 * The compared period (or the other baseline's).
 */
fromMs: number, untilMs: number, against: string | null, confidence: number, rows: Array<ComparisonRowView>, significantCount: number, };

export type ComparisonRowView = { series: string, before: number | null, now: number | null, difference: number | null, differenceLow: number | null, differenceHigh: number | null, 
/**
 * `now / before − 1`; null when the baseline's level is 0.
 */
change: number | null, changeLow: number | null, changeHigh: number | null, 
/**
 * The interval excludes "no change" (family-wise `confidence` over every row).
 */
significant: boolean, 
/**
 * `higher`, `lower` or `unchanged` (not significant).
 */
verdict: string, 
/**
 * Hours of day compared (both periods cover them).
 */
hours: number, 
/**
 * Why the row has no numbers: `noData` (the compared period has none), `noCommonHours`.
 */
problem: string | null, 
/**
 * Median per hour of day of each side (for the profile chart).
 */
beforeHourly: Array<number | null>, nowHourly: Array<number | null>, };

export type ReportInput = { 
/**
 * What is compared, as for `baseline_compare`.
 */
compare: CompareInput, 
/**
 * `en` or `zh-CN` (default `en`).
 */
language: string | null, };

export type ReportFile = { path: string, bytes: number, charts: number, };

export type ImportInput = { 
/**
 * `name` or `name{label="value",…}` (labels with `=` only): the series written.
 */
series: string, 
/**
 * `csv`.
 */
format: string, 
/**
 * The file's text.
 */
text: string, 
/**
 * Where it came from (a file name), for the audit trail.
 */
source: string, };

export type ImportView = { series: string, points: number, fromMs: number, toMs: number, };

export type PrometheusImportInput = { 
/**
 * The server's base URL (`http://host:9090`).
 */
url: string, 
/**
 * PromQL; each result series is written under `series` with its labels.
 */
query: string, 
/**
 * The name the result series get.
 */
series: string, 
/**
 * How far back from now.
 */
sinceMs: number, 
/**
 * The resolution asked of Prometheus (at least 1 s).
 */
stepMs: number, };

export type BackupTrendsInput = { fromMs: number, toMs: number, };

export type BackupDetailView = { 
/**
 * From its full to itself: every backup a restore of it reads.
 */
chain: Array<string>, 
/**
 * Backups that build on it (they expire with it, if it is a full).
 */
dependents: Array<string>, host: string, consoleVersion: string, chunks: number, newChunks: number, 
/**
 * Packs holding its chunks, and how many of them no clean verification has read yet.
 */
packs: number, unverifiedPacks: number, 
/**
 * The oldest last clean verification among its packs, when every one has one.
 */
verifiedMs: number | null, tables: Array<TableView>, };

export type TableView = { source: string, schema: string, name: string, rows: number, };

export type BackupPolicyView = { sources: Array<string>, keepFull: number, 
/**
 * A duration ("30days", "0s": off).
 */
keepAge: string, verifyBudget: string, rto: string, schedules: Array<PolicySchedule>, timeZone: string, locked: Array<LockedSetting>, 
/**
 * The config file a save writes.
 */
file: string | null, };

export type PolicySchedule = { 
/**
 * `full`, `diff`, `incr`, `verify` or `drill`.
 */
kind: string, 
/**
 * Cron in `runtime.time_zone`, `@every <duration>`, or empty: not scheduled.
 */
spec: string, nextMs: number | null, lastEndedMs: number | null, 
/**
 * `ok`, `failed` or `running`.
 */
lastResult: string | null, lastError: string | null, };

export type LockedSetting = { key: string, 
/**
 * The variable that sets it, e.g. `QCAT_BACKUP__KEEP_FULL`.
 */
variable: string, };

export type RuleSpec = { 
/**
 * A name of letters, digits and `_` (it becomes the `alertname` label).
 */
name: string, 
/**
 * `threshold`, `absence`, `deviation` or `event`.
 */
kind: string, 
/**
 * A series selector (`app_error_ratio`, `app_endpoint_latency_seconds{quantile="0.99"}`)
 * for threshold, absence and deviation rules.
 */
series: string, 
/**
 * `>` or `<` (threshold rules).
 */
op: string, 
/**
 * The threshold; for `no_good_backup`, the hours without a good backup.
 */
value: number, 
/**
 * One of [`EVENTS`] (event rules).
 */
event: string, 
/**
 * How long the condition must hold before the alert fires (`0s`, `2m`).
 */
for: string, 
/**
 * `info`, `warning`, `error` or `critical`.
 */
severity: string, labels: { [key in string]: string }, 
/**
 * `summary`, `description`… (the runbook link goes in `runbookUrl`).
 */
annotations: { [key in string]: string }, runbookUrl: string, 
/**
 * The least time between two notifications of one alert.
 */
cooldown: string, 
/**
 * State changes within `flapWindow` that make an alert flapping (0: never).
 */
flapChanges: number, flapWindow: string, enabled: boolean, };

export type RuleView = { rule: RuleSpec, version: number, updatedBy: string, updatedMs: number, 
/**
 * Its alerts firing now.
 */
firing: number, };

export type RuleSaveInput = { rule: RuleSpec, 
/**
 * The version the editor opened; 0 for a new rule; absent: whatever is stored.
 */
seenVersion: number | null, };

export type RuleNameInput = { name: string, };

export type RulePreviewInput = { rule: RuleSpec, 
/**
 * How far back (default 24).
 */
hours: number | null, };

export type PreviewFiring = { startMs: number, 
/**
 * `null`: still firing at the end of the window.
 */
endMs: number | null, };

export type PreviewSeries = { series: string, points: Array<[number, number | null]>, firings: Array<PreviewFiring>, };

export type RulePreview = { fromMs: number, toMs: number, 
/**
 * At most 20 series (the ones that would have fired first).
 */
series: Array<PreviewSeries>, 
/**
 * Firings over every matched series.
 */
totalFirings: number, 
/**
 * Series the selector matched.
 */
matched: number, 
/**
 * Why there is nothing to replay (event rules).
 */
note: string | null, };

export type IntegrationView = { 
/**
 * `dingtalk_configs[0]`.
 */
id: string, kind: string, sendResolved: boolean, };

export type ReceiverView = { name: string, integrations: Array<IntegrationView>, fallback: string | null, };

export type RoutingView = { yaml: string, 
/**
 * 0 until one is saved (the default routing is shown).
 */
version: number, updatedBy: string | null, updatedMs: number | null, receivers: Array<ReceiverView>, 
/**
 * What keeps a receiver from sending (a secret missing from the keychain).
 */
problems: Array<string>, };

export type RoutingSaveInput = { yaml: string, 
/**
 * The version the editor opened (0: none saved yet).
 */
seenVersion: number, };

export type RoutePreviewInput = { 
/**
 * The alert's labels.
 */
labels: { [key in string]: string }, annotations: { [key in string]: string }, 
/**
 * A configuration to try instead of the stored one (the editor's unsaved text).
 */
yaml: string | null, };

export type RenderedView = { integration: string, kind: string, title: string, body: string, html: string | null, 
/**
 * Why it could not be rendered (a template error with its line).
 */
error: string | null, };

export type RoutePreview = { receiver: string, route: string, groupBy: Array<string>, groupWaitS: number, groupIntervalS: number, repeatIntervalS: number, 
/**
 * Muted now by a firing alert through an inhibition rule.
 */
inhibited: boolean, messages: Array<RenderedView>, };

export type TestSendInput = { receiver: string, 
/**
 * The test alert's labels (defaults: alertname=QcatTestAlert, severity=info).
 */
labels: { [key in string]: string }, annotations: { [key in string]: string }, };

export type TestSendResult = { integration: string, kind: string, ok: boolean, error: string | null, durationMs: number, };

export type SilenceView = { id: string, 
/**
 * `{alertname="Down", instance=~"db.*"}`.
 */
matchers: string, startsMs: number, endsMs: number, createdBy: string, comment: string, 
/**
 * `pending`, `active` or `expired`.
 */
state: string, };

export type SilenceInput = { 
/**
 * Matchers as Alertmanager writes them: `alertname="Down", instance=~"db.*"`.
 */
matchers: string, 
/**
 * Default: now.
 */
startsMs: number | null, endsMs: number, comment: string, };

export type SilenceIdInput = { id: string, };

export type AlertView = { fingerprint: string, 
/**
 * `rule:<name>`, `event:<name>` or `api` (Prometheus through `/api/v2/alerts`).
 */
source: string, alertname: string, severity: string, labels: { [key in string]: string }, annotations: { [key in string]: string }, startsMs: number, endsMs: number | null, 
/**
 * `firing` or `resolved`.
 */
state: string, flapping: boolean, 
/**
 * Silences muting it now.
 */
silencedBy: Array<string>, 
/**
 * Muted by a firing alert through an inhibition rule.
 */
inhibited: boolean, };

export type HistoryInput = { 
/**
 * Default: a week ago.
 */
fromMs: number | null, toMs: number | null, 
/**
 * Default 500.
 */
limit: number | null, };

export type DeliveryView = { key: string, receiver: string, integration: string, 
/**
 * `queued`, `sent` or `dead`.
 */
state: string, attempts: number, dueMs: number, createdMs: number, sentMs: number | null, lastError: string | null, 
/**
 * `firing` or `resolved`.
 */
status: string, 
/**
 * The alert names it carries.
 */
alerts: Array<string>, 
/**
 * The notification key this one stands in for (a fallback's copy).
 */
fallbackOf: string | null, };

export type ChannelSummary = { receiver: string, integration: string, sent: number, queued: number, 
/**
 * Queued and failing (its last attempt failed).
 */
failing: number, dead: number, 
/**
 * Queued → delivered, over the listed window.
 */
latencyP50S: number | null, latencyP99S: number | null, };

export type DeliveryLog = { channels: Array<ChannelSummary>, entries: Array<DeliveryView>, };

export type DeliveriesInput = { 
/**
 * Default: the last day.
 */
sinceMs: number | null, 
/**
 * Default 500.
 */
limit: number | null, };

export type DeliveryKeyInput = { key: string, };

export type MemberView = { id: string, 
/**
 * `console`, `agent` or `one_shot`.
 */
mode: string, host: string, pid: number, version: string, startedMs: number, heartbeatMs: number, 
/**
 * Whether it is this process.
 */
thisProcess: boolean, 
/**
 * Its tasks as of its last heartbeat (this process: now).
 */
tasks: Array<TaskView>, };

export type DutyView = { duty: string, 
/**
 * The holding member, or null when the term ran out and nobody took it yet.
 */
holder: string | null, 
/**
 * The holder's host and pid, when it is a live member.
 */
holderLabel: string | null, token: number, sinceMs: number, heldHere: boolean, };

export type RuntimeStatus = { mode: string, member: string, tasks: Array<TaskView>, members: Array<MemberView>, duties: Array<DutyView>, 
/**
 * Events waiting for the audit writer.
 */
auditQueue: number, 
/**
 * Why members and duties are missing (no store), if they are.
 */
error: ApiError | null, };

export type LiveEvent = { "topic": "access://changed", version: number, } | { "topic": "audit://appended", version: number, } | { "topic": "jobs://progress", job: JobView, } | { "topic": "jobs://changed", version: number, } | { "topic": "duties://changed", version: number, } | { "topic": "tasks://health", tasks: Array<TaskView>, } | { "topic": "monitor://changed", version: number, } | { "topic": "baseline://changed", version: number, } | { "topic": "alerts://changed", version: number, } | { "topic": "alerts://delivery", version: number, } | { "topic": "monitor://samples", target: string, atMs: number, };

/** Every IPC command, its arguments and what it resolves to. */
export interface Commands {
  /** Version, data dir (and where it came from), environment and uptime. */
  app_info: { args: Record<string, never>; returns: AppInfo };
  /** Storage backend, location without credentials, health probed now, schema version. */
  storage_status: { args: Record<string, never>; returns: StorageStatus };
  /** Whether the store has no user yet, so the first administrator must be created. */
  setup_status: { args: Record<string, never>; returns: SetupStatus };
  /** Creates the first administrator of an empty store and signs them in; refused once any user exists. */
  create_first_admin: { args: { input: NewUserInput }; returns: SessionView };
  /** Signs in (throttled per user and per source); the session stays in the core. */
  login: { args: { input: LoginInput }; returns: SessionView };
  /** Ends the session. */
  logout: { args: Record<string, never>; returns: null };
  /** The signed-in user, their roles and permissions, or null. */
  current_session: { args: Record<string, never>; returns: SessionView | null };
  /** Sets a password: one's own, or another user's with rbac:edit. */
  change_password: { args: { input: PasswordInput }; returns: null };
  /** The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed. */
  config_settings: { args: Record<string, never>; returns: ConfigView };
  /** Saves one non-secret setting to the user's config file after validating the whole configuration; applies at restart. */
  set_setting: { args: { key: string; value: string }; returns: SettingChange };
  /** The log files: the current one first, then rotated (possibly gzipped) ones, newest first. */
  log_files: { args: Record<string, never>; returns: Array<LogFile> };
  /** Lines of one log file filtered by level, target and text; the newest last. */
  log_lines: { args: { query: LogQuery }; returns: Array<LogLine> };
  /** Records a UI error or warning in the console's log (target qcat_ui); the window's own reports, so also before sign-in. */
  log_frontend: { args: { entry: FrontendLog }; returns: null };
  /** The names of the named secrets (never their values). */
  named_secrets: { args: Record<string, never>; returns: Array<string> };
  /** Stores a named secret in the OS keychain (or the server key file's store); write-only. */
  set_named_secret: { args: { input: NamedSecretInput }; returns: null };
  /** The permission catalog, every role (grants, parents, effective permissions) and every user. */
  access_model: { args: Record<string, never>; returns: AccessModel };
  /** Whether a user holds a permission and the path through roles that grants it. */
  explain_access: { args: { username: string; permission: string }; returns: AccessExplanation };
  /** Creates a role, or replaces one as of the version the caller saw; refused if it would grant what the caller lacks or make a cycle. */
  save_role: { args: { input: RoleInput }; returns: RoleView };
  /** One change to a role (grant, revoke, inherit, uninherit, describe) as of the version the caller saw. */
  edit_role: { args: { role: string; change: RoleChange; seenVersion: number | null }; returns: RoleView };
  /** Deletes a custom role nobody inherits from, as of the version the caller saw. */
  delete_role: { args: { name: string; seenVersion: number | null }; returns: null };
  /** Creates a user with roles the caller could hold themselves. */
  create_user: { args: { input: NewUserInput }; returns: UserView };
  /** Replaces a user's roles; the last enabled administrator keeps admin. */
  set_user_roles: { args: { username: string; roles: Array<string>; seenVersion: number | null }; returns: UserView };
  /** Enables or disables a user (disabling ends their sessions). */
  set_user_enabled: { args: { username: string; enabled: boolean; seenVersion: number | null }; returns: UserView };
  /** Audit entries matching a filter, newest first, before a cursor. */
  audit_page: { args: { query: AuditQuery }; returns: Array<AuditEntryView> };
  /** How many audit entries match a filter. */
  audit_count: { args: { filter: AuditFilterInput }; returns: number };
  /** Starts a job that walks the hash chain and names the first entry that was changed, deleted or reordered; its result is an AuditVerifyReport. */
  audit_verify: { args: Record<string, never>; returns: JobStarted };
  /** Starts a job that writes matching audit entries as CSV or JSON to a new file in the data dir's exports folder; its result is an ExportedFile. */
  audit_export_file: { args: { input: AuditExportInput }; returns: JobStarted };
  /** Cancels a running job of this process: one's own, or anyone's with system:operate. */
  job_cancel: { args: { input: JobIdInput }; returns: null };
  /** The newest jobs of every console and agent on the store, newest first. */
  jobs_recent: { args: Record<string, never>; returns: Array<JobView> };
  /** The configured schedules with their last and next runs. */
  schedules_list: { args: Record<string, never>; returns: Array<ScheduleView> };
  /** This process's tasks (state, restarts, last error), the consoles and agents on the store, and who leads each duty. */
  runtime_status: { args: Record<string, never>; returns: RuntimeStatus };
  /** Every monitoring target (kind, URL without credentials, environment, interval) with its health. */
  monitor_targets: { args: Record<string, never>; returns: Array<TargetView> };
  /** Adds or changes a monitoring target; a typed password is encrypted, a stale editor is refused. */
  monitor_target_save: { args: { input: TargetInput }; returns: TargetView };
  /** Removes a monitoring target (its stored series stay until their retention ends). */
  monitor_target_remove: { args: { input: TargetNameInput }; returns: null };
  /** Tests a target's connection step by step: resolve, connect, sign in and read once. */
  monitor_target_test: { args: { input: TargetInput }; returns: CheckView };
  /** Series over a range, at most maxPoints each, from the best tier; values, rates or histogram quantiles. */
  monitor_query: { args: { input: QueryInput }; returns: Array<SeriesView> };
  /** The deviations one series' stored history raises, replayed causally against its learned baseline. */
  baseline_deviations: { args: { input: DeviationsInput }; returns: DeviationsView };
  /** One series with its expected band (the learned baseline replayed causally), deviations and marked periods, for charts. */
  baseline_band: { args: { input: BandInput }; returns: BandView };
  /** Every learned series: learning share, expected value and band, score, the deviation in progress. */
  baseline_status: { args: Record<string, never>; returns: BaselineStatusView };
  /** Deviation events the live baselines raised in a range, newest first. */
  baseline_events: { args: { input: DeviationEventsInput }; returns: Array<DeviationEventView> };
  /** Periods marked as incidents or maintenance that overlap a range. */
  baseline_marks: { args: { input: RangeInput }; returns: Array<MarkView> };
  /** Marks a period as an incident or maintenance: baselines learn nothing from it and raise nothing in it. */
  baseline_mark: { args: { input: MarkInput }; returns: MarkView };
  /** Removes a marked period. */
  baseline_unmark: { args: { id: string }; returns: null };
  /** Every named baseline, newest first (period, selectors, number of series). */
  baseline_list: { args: Record<string, never>; returns: Array<NamedBaselineView> };
  /** One named baseline with each series' summary (mean, P50/P95/P99 of its minutes, hourly profile). */
  baseline_show: { args: { name: string }; returns: NamedBaselineView };
  /** Captures a period of chosen series (default: the application's latency, errors, rate, throughput, in-flight) as a named baseline. */
  baseline_capture: { args: { input: CaptureInput }; returns: NamedBaselineView };
  /** Removes a named baseline. */
  baseline_remove: { args: { name: string }; returns: null };
  /** Compares a period (or another named baseline) with a named baseline, per series, with a family-wise bootstrap interval on each change. */
  baseline_compare: { args: { input: CompareInput }; returns: ComparisonView };
  /** Writes a comparison report (table, hourly profiles and learned bands drawn by plotters) as one HTML file in the data dir's exports folder. */
  baseline_report: { args: { input: ReportInput }; returns: ReportFile };
  /** Imports history (CSV rows timestamp,value) into one series, before its own samples, so a baseline can learn from it at once. */
  monitor_import: { args: { input: ImportInput }; returns: ImportView };
  /** Imports a Prometheus server's history of one PromQL query (query_range, in windows it accepts) as series under one name. */
  monitor_import_prometheus: { args: { input: PrometheusImportInput }; returns: Array<ImportView> };
  /** First-start shortcuts: monitor this machine (host), or start the simulated trading application and monitor it (demo). */
  monitor_quick_start: { args: { input: QuickStartInput }; returns: TargetView };
  /** Every target's health and the newest headline values (request rate, error ratio, P99, CPU, connections…). */
  monitor_overview: { args: Record<string, never>; returns: OverviewView };
  /** Every alert rule with its version and how many of its alerts fire now. */
  alert_rules: { args: Record<string, never>; returns: Array<RuleView> };
  /** Saves an alert rule (threshold, absence, baseline deviation or event), checked field by field, against the version the editor saw. */
  alert_rule_save: { args: { input: RuleSaveInput }; returns: RuleView };
  /** Removes an alert rule; its firing alerts resolve. */
  alert_rule_remove: { args: { input: RuleNameInput }; returns: null };
  /** When a rule would have fired over the last 24 hours of stored data (the duty's own evaluator replayed). */
  alert_rule_preview: { args: { input: RulePreviewInput }; returns: RulePreview };
  /** The routing configuration (alertmanager.yml; the default until one is saved), its receivers and what keeps any from sending. */
  alert_routing: { args: Record<string, never>; returns: RoutingView };
  /** Saves (or imports) an alertmanager.yml: checked as Alertmanager checks it, literal credentials moved into named secrets. */
  alert_routing_save: { args: { input: RoutingSaveInput }; returns: RoutingView };
  /** The routing simulator: the receivers an alert reaches, with grouping and timers, and each message rendered as its channel shows it. */
  alert_route_preview: { args: { input: RoutePreviewInput }; returns: Array<RoutePreview> };
  /** Sends a test alert through every integration of a receiver now; each service's answer. */
  alert_test_send: { args: { input: TestSendInput }; returns: Array<TestSendResult> };
  /** Silences that have not ended, and those that ended in the last day. */
  alert_silences: { args: Record<string, never>; returns: Array<SilenceView> };
  /** Adds a silence: matchers, start and end, a comment. */
  alert_silence_add: { args: { input: SilenceInput }; returns: SilenceView };
  /** Ends a silence now. */
  alert_silence_expire: { args: { input: SilenceIdInput }; returns: null };
  /** The alerts firing now (rules, events, Prometheus), each with the silence or inhibition muting it. */
  alert_firing: { args: Record<string, never>; returns: Array<AlertView> };
  /** Firings that started in a window (a week by default), newest first. */
  alert_history: { args: { input: HistoryInput }; returns: Array<AlertView> };
  /** The delivery log: each notification per integration with attempts, error and state, and per-channel totals and latency. */
  alert_deliveries: { args: { input: DeliveriesInput }; returns: DeliveryLog };
  /** Queues a dead letter again, due now. */
  alert_delivery_retry: { args: { input: DeliveryKeyInput }; returns: null };
  /** Every backup in the repository, newest first: type, chain, sources, sizes, dedup ratio. */
  backup_list: { args: Record<string, never>; returns: Array<BackupView> };
  /** One backup: its chain, sources, server versions, tables and sizes. */
  backup_show: { args: { input: BackupIdInput }; returns: BackupView };
  /** Takes a full, differential or incremental backup of the chosen (or configured) sources as one recovery point. */
  backup_run: { args: { input: BackupRunInput }; returns: JobStarted };
  /** Reads, decrypts and hashes every chunk of the chosen backups; damage names each chunk and the backups needing it. */
  backup_verify: { args: { input: BackupVerifyInput }; returns: JobStarted };
  /** What a restore would do: create or overwrite, where, the confirmation it needs, the space it takes. */
  backup_restore_plan: { args: { input: BackupRestoreInput }; returns: RestorePlanView };
  /** Restores one source of a backup (checked first; typed confirmation and a safety backup where it overwrites), then compares row counts. */
  backup_restore: { args: { input: BackupRestoreInput }; returns: JobStarted };
  /** A restore drill now: the newest recovery point's PostgreSQL sources restored into scratch databases, checked, timed against backup.rto, dropped. */
  backup_drill: { args: Record<string, never>; returns: JobStarted };
  /** The backup history as series: durations, bytes read and stored, outcomes, restore and drill durations, verify coverage. */
  backup_trends: { args: { input: BackupTrendsInput }; returns: Array<SeriesView> };
  /** The backup policy in force: sources, retention, schedules with their runs, verify budget, RTO; keys the environment locks. */
  backup_policy: { args: Record<string, never>; returns: BackupPolicyView };
  /** Saves the backup policy to the config file in one checked, atomic write; in force at once (the scheduler re-plans). */
  backup_policy_save: { args: { input: BackupPolicyInput }; returns: BackupPolicyView };
  /** Applies retention (keep_full, keep_age; dependents go with their full) and removes unreferenced packs; dry_run only reports. */
  backup_expire: { args: { input: BackupExpireInput }; returns: ExpireView };
}
