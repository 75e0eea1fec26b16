//! The command table: every entry point of [`crate::Api`] declared once — name, summary,
//! access rule, whether its success is audited, kind (query / change / job), argument and
//! result types, and the call. From it come the registry [`COMMANDS`] (`Api::guard` reads
//! the access rule from here; a test calls every entry as a user without the permission and
//! with it), the uniform async functions in [`ipc`], the TypeScript `Commands` interface
//! (argument names and types from ts-rs), and, through [`for_each_ipc_command!`], the
//! shell's `#[tauri::command]` wrappers and its `generate_handler!` list. The shell's
//! permission list (`src-tauri/command_names.rs`) and window capability are generated from
//! [`COMMANDS`] with the bindings (`UPDATE_BINDINGS=1`), and a test fails on any drift.

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

/// What a command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads; changes nothing.
    Query,
    /// Changes state (and is audited when it succeeds, where `audited`).
    Change,
    /// Starts a job and returns its id; progress arrives as `jobs://progress` events.
    Job,
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
    pub kind: Kind,
    /// Whether the desktop window may call it (the rest are `qcatctl` only).
    pub ipc: bool,
}

/// A command's TypeScript signature (for the generated `Commands` interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: &'static str,
    /// Argument names as the window sends them (camelCase) and their types.
    pub args: Vec<(String, String)>,
    pub returns: String,
}

/// Calls `$callback! { … }` with the table of every command the window may call. Each
/// entry: doc (the summary), name, `[access, audited, kind]`, arguments, result type, and
/// the call as `|api, slot| expression` (an `async` context).
#[macro_export]
macro_rules! for_each_ipc_command {
    ($callback:ident) => {
        $callback! {
            #[doc = "Version, data dir (and where it came from), environment and uptime."]
            app_info [Public, false, Query] () -> $crate::dto::AppInfo
                => |api, _slot| Ok(api.app_info());
            #[doc = "Storage backend, location without credentials, health probed now, schema version."]
            storage_status [Public, false, Query] () -> $crate::dto::StorageStatus
                => |api, _slot| Ok(api.storage_status().await);
            #[doc = "Whether the store has no user yet, so the first administrator must be created."]
            setup_status [Public, false, Query] () -> $crate::access::SetupStatus
                => |api, _slot| api.setup_status();
            #[doc = "Creates the first administrator of an empty store and signs them in; refused once any user exists."]
            create_first_admin [Public, true, Change] (input: $crate::access::NewUserInput) -> $crate::access::SessionView
                => |api, slot| api.create_first_admin(slot, input).await;
            #[doc = "Signs in (throttled per user and per source); the session stays in the core."]
            login [Public, true, Change] (input: $crate::access::LoginInput) -> $crate::access::SessionView
                => |api, slot| api.login(slot, input).await;
            #[doc = "Ends the session."]
            logout [SignedIn, true, Change] () -> ()
                => |api, slot| api.logout(slot).await;
            #[doc = "The signed-in user, their roles and permissions, or null."]
            current_session [Public, false, Query] () -> Option<$crate::access::SessionView>
                => |api, slot| api.current_session(slot);
            #[doc = "Sets a password: one's own, or another user's with rbac:edit."]
            change_password [SignedIn, true, Change] (input: $crate::access::PasswordInput) -> ()
                => |api, slot| api.change_password(slot, input).await;
            #[doc = "The effective configuration: per key the value (secrets masked), the layer it came from and what it shadowed."]
            config_settings [Permission("config:view"), false, Query] () -> $crate::dto::ConfigView
                => |api, slot| api.config_settings(slot).await;
            #[doc = "Saves one non-secret setting to the user's config file after validating the whole configuration; applies at restart."]
            set_setting [Permission("config:edit"), true, Change] (key: String, value: String) -> $crate::config::SettingChange
                => |api, slot| api.set_setting(slot, &key, &value).await;
            #[doc = "The log files: the current one first, then rotated (possibly gzipped) ones, newest first."]
            log_files [Permission("logs:view"), false, Query] () -> Vec<$crate::logs::LogFile>
                => |api, slot| api.log_files(slot).await;
            #[doc = "Lines of one log file filtered by level, target and text; the newest last."]
            log_lines [Permission("logs:view"), false, Query] (query: $crate::logs::LogQuery) -> Vec<$crate::logs::LogLine>
                => |api, slot| api.log_lines(slot, query).await;
            #[doc = "Records a UI error or warning in the console's log (target qcat_ui); the window's own reports, so also before sign-in."]
            log_frontend [Public, false, Change] (entry: $crate::logs::FrontendLog) -> ()
                => |api, _slot| api.log_frontend(&entry);
            #[doc = "The names of the named secrets (never their values)."]
            named_secrets [Permission("config:view"), false, Query] () -> Vec<String>
                => |api, slot| api.named_secrets(slot).await;
            #[doc = "Stores a named secret in the OS keychain (or the server key file's store); write-only."]
            set_named_secret [Permission("secrets:write"), true, Change] (input: $crate::secrets::NamedSecretInput) -> ()
                => |api, slot| api.set_named_secret(slot, input).await;
            #[doc = "The permission catalog, every role (grants, parents, effective permissions) and every user."]
            access_model [Permission("rbac:view"), false, Query] () -> $crate::access::AccessModel
                => |api, slot| api.access_model(slot).await;
            #[doc = "Whether a user holds a permission and the path through roles that grants it."]
            explain_access [Permission("rbac:view"), false, Query] (username: String, permission: String) -> $crate::access::AccessExplanation
                => |api, slot| api.explain_access(slot, &username, &permission).await;
            #[doc = "Creates a role, or replaces one as of the version the caller saw; refused if it would grant what the caller lacks or make a cycle."]
            save_role [Permission("rbac:edit"), true, Change] (input: $crate::access::RoleInput) -> $crate::access::RoleView
                => |api, slot| api.save_role(slot, input).await;
            #[doc = "One change to a role (grant, revoke, inherit, uninherit, describe) as of the version the caller saw."]
            edit_role [Permission("rbac:edit"), true, Change] (role: String, change: $crate::access::RoleChange, seen_version: Option<i64>) -> $crate::access::RoleView
                => |api, slot| api.edit_role(slot, &role, change, seen_version).await;
            #[doc = "Deletes a custom role nobody inherits from, as of the version the caller saw."]
            delete_role [Permission("rbac:edit"), true, Change] (name: String, seen_version: Option<i64>) -> ()
                => |api, slot| api.delete_role(slot, &name, seen_version).await;
            #[doc = "Creates a user with roles the caller could hold themselves."]
            create_user [Permission("rbac:edit"), true, Change] (input: $crate::access::NewUserInput) -> $crate::access::UserView
                => |api, slot| api.create_user(slot, input).await;
            #[doc = "Replaces a user's roles; the last enabled administrator keeps admin."]
            set_user_roles [Permission("rbac:edit"), true, Change] (username: String, roles: Vec<String>, seen_version: Option<i64>) -> $crate::access::UserView
                => |api, slot| api.set_user_roles(slot, &username, roles, seen_version).await;
            #[doc = "Enables or disables a user (disabling ends their sessions)."]
            set_user_enabled [Permission("rbac:edit"), true, Change] (username: String, enabled: bool, seen_version: Option<i64>) -> $crate::access::UserView
                => |api, slot| api.set_user_enabled(slot, &username, enabled, seen_version).await;
            #[doc = "Audit entries matching a filter, newest first, before a cursor."]
            audit_page [Permission("audit:view"), false, Query] (query: $crate::audit::AuditQuery) -> Vec<$crate::audit::AuditEntryView>
                => |api, slot| api.audit_page(slot, query).await;
            #[doc = "How many audit entries match a filter."]
            audit_count [Permission("audit:view"), false, Query] (filter: $crate::audit::AuditFilterInput) -> i64
                => |api, slot| api.audit_count(slot, filter).await;
            #[doc = "Starts a job that walks the hash chain and names the first entry that was changed, deleted or reordered; its result is an AuditVerifyReport."]
            audit_verify [Permission("audit:view"), true, Job] () -> $crate::jobs::JobStarted
                => |api, slot| api.audit_verify(slot).await;
            #[doc = "Starts a job that writes matching audit entries as CSV or JSON to a new file in the data dir's exports folder; its result is an ExportedFile."]
            audit_export_file [Permission("audit:export"), true, Job] (input: $crate::audit::AuditExportInput) -> $crate::jobs::JobStarted
                => |api, slot| api.audit_export_file(slot, input).await;
            #[doc = "Cancels a running job of this process: one's own, or anyone's with system:operate."]
            job_cancel [SignedIn, false, Change] (input: $crate::jobs::JobIdInput) -> ()
                => |api, slot| api.job_cancel(slot, input).await;
            #[doc = "The newest jobs of every console and agent on the store, newest first."]
            jobs_recent [Permission("system:view"), false, Query] () -> Vec<$crate::jobs::JobView>
                => |api, slot| api.jobs_recent(slot).await;
            #[doc = "The configured schedules with their last and next runs."]
            schedules_list [Permission("system:view"), false, Query] () -> Vec<$crate::schedules::ScheduleView>
                => |api, slot| api.schedules_list(slot).await;
            #[doc = "This process's tasks (state, restarts, last error), the consoles and agents on the store, and who leads each duty."]
            runtime_status [Permission("system:view"), false, Query] () -> $crate::runtime::RuntimeStatus
                => |api, slot| api.runtime_status(slot).await;
            #[doc = "Every monitoring target (kind, URL without credentials, environment, interval) with its health."]
            monitor_targets [Permission("monitor:view"), false, Query] () -> Vec<$crate::monitor::TargetView>
                => |api, slot| api.monitor_targets(slot).await;
            #[doc = "Adds or changes a monitoring target; a typed password is encrypted, a stale editor is refused."]
            monitor_target_save [Permission("monitor:edit"), true, Change] (input: $crate::monitor::TargetInput) -> $crate::monitor::TargetView
                => |api, slot| api.monitor_target_save(slot, input).await;
            #[doc = "Removes a monitoring target (its stored series stay until their retention ends)."]
            monitor_target_remove [Permission("monitor:edit"), true, Change] (input: $crate::monitor::TargetNameInput) -> ()
                => |api, slot| api.monitor_target_remove(slot, input).await;
            #[doc = "Tests a target's connection step by step: resolve, connect, sign in and read once."]
            monitor_target_test [Permission("monitor:edit"), false, Query] (input: $crate::monitor::TargetInput) -> $crate::monitor::CheckView
                => |api, slot| api.monitor_target_test(slot, input).await;
            #[doc = "Series over a range, at most maxPoints each, from the best tier; values, rates or histogram quantiles."]
            monitor_query [Permission("monitor:view"), false, Query] (input: $crate::monitor::QueryInput) -> Vec<$crate::monitor::SeriesView>
                => |api, slot| api.monitor_query(slot, input).await;
            #[doc = "The deviations one series' stored history raises, replayed causally against its learned baseline."]
            baseline_deviations [Permission("monitor:view"), false, Query] (input: $crate::monitor::DeviationsInput) -> $crate::monitor::DeviationsView
                => |api, slot| api.baseline_deviations(slot, input).await;
            #[doc = "One series with its expected band (the learned baseline replayed causally), deviations and marked periods, for charts."]
            baseline_band [Permission("monitor:view"), false, Query] (input: $crate::monitor::BandInput) -> $crate::monitor::BandView
                => |api, slot| api.baseline_band(slot, input).await;
            #[doc = "Every learned series: learning share, expected value and band, score, the deviation in progress."]
            baseline_status [Permission("monitor:view"), false, Query] () -> $crate::monitor::BaselineStatusView
                => |api, slot| api.baseline_status(slot).await;
            #[doc = "Deviation events the live baselines raised in a range, newest first."]
            baseline_events [Permission("monitor:view"), false, Query] (input: $crate::monitor::DeviationEventsInput) -> Vec<$crate::monitor::DeviationEventView>
                => |api, slot| api.baseline_events(slot, input).await;
            #[doc = "Periods marked as incidents or maintenance that overlap a range."]
            baseline_marks [Permission("monitor:view"), false, Query] (input: $crate::monitor::RangeInput) -> Vec<$crate::monitor::MarkView>
                => |api, slot| api.baseline_marks(slot, input).await;
            #[doc = "Marks a period as an incident or maintenance: baselines learn nothing from it and raise nothing in it."]
            baseline_mark [Permission("monitor:edit"), true, Change] (input: $crate::monitor::MarkInput) -> $crate::monitor::MarkView
                => |api, slot| api.baseline_mark(slot, input).await;
            #[doc = "Removes a marked period."]
            baseline_unmark [Permission("monitor:edit"), true, Change] (id: String) -> ()
                => |api, slot| api.baseline_unmark(slot, id).await;
            #[doc = "Every named baseline, newest first (period, selectors, number of series)."]
            baseline_list [Permission("monitor:view"), false, Query] () -> Vec<$crate::monitor::NamedBaselineView>
                => |api, slot| api.baseline_list(slot).await;
            #[doc = "One named baseline with each series' summary (mean, P50/P95/P99 of its minutes, hourly profile)."]
            baseline_show [Permission("monitor:view"), false, Query] (name: String) -> $crate::monitor::NamedBaselineView
                => |api, slot| api.baseline_show(slot, name).await;
            #[doc = "Captures a period of chosen series (default: the application's latency, errors, rate, throughput, in-flight) as a named baseline."]
            baseline_capture [Permission("monitor:edit"), true, Change] (input: $crate::monitor::CaptureInput) -> $crate::monitor::NamedBaselineView
                => |api, slot| api.baseline_capture(slot, input).await;
            #[doc = "Removes a named baseline."]
            baseline_remove [Permission("monitor:edit"), true, Change] (name: String) -> ()
                => |api, slot| api.baseline_remove(slot, name).await;
            #[doc = "Compares a period (or another named baseline) with a named baseline, per series, with a family-wise bootstrap interval on each change."]
            baseline_compare [Permission("monitor:view"), false, Query] (input: $crate::monitor::CompareInput) -> $crate::monitor::ComparisonView
                => |api, slot| api.baseline_compare(slot, input).await;
            #[doc = "Writes a comparison report (table, hourly profiles and learned bands drawn by plotters) as one HTML file in the data dir's exports folder."]
            baseline_report [Permission("monitor:view"), true, Change] (input: $crate::monitor::ReportInput) -> $crate::monitor::ReportFile
                => |api, slot| api.baseline_report(slot, input).await;
            #[doc = "Imports history (CSV rows timestamp,value) into one series, before its own samples, so a baseline can learn from it at once."]
            monitor_import [Permission("monitor:edit"), true, Change] (input: $crate::monitor::ImportInput) -> $crate::monitor::ImportView
                => |api, slot| api.monitor_import(slot, input).await;
            #[doc = "Imports a Prometheus server's history of one PromQL query (query_range, in windows it accepts) as series under one name."]
            monitor_import_prometheus [Permission("monitor:edit"), true, Change] (input: $crate::monitor::PrometheusImportInput) -> Vec<$crate::monitor::ImportView>
                => |api, slot| api.monitor_import_prometheus(slot, input).await;
            #[doc = "First-start shortcuts: monitor this machine (host), or start the simulated trading application and monitor it (demo)."]
            monitor_quick_start [Permission("monitor:edit"), true, Change] (input: $crate::monitor::QuickStartInput) -> $crate::monitor::TargetView
                => |api, slot| api.monitor_quick_start(slot, input).await;
            #[doc = "Every target's health and the newest headline values (request rate, error ratio, P99, CPU, connections…)."]
            monitor_overview [Permission("monitor:view"), false, Query] () -> $crate::monitor::OverviewView
                => |api, slot| api.monitor_overview(slot).await;
            #[doc = "Every alert rule with its version and how many of its alerts fire now."]
            alert_rules [Permission("alerts:view"), false, Query] () -> Vec<$crate::alert::rules::RuleView>
                => |api, slot| api.alert_rules(slot).await;
            #[doc = "Saves an alert rule (threshold, absence, baseline deviation or event), checked field by field, against the version the editor saw."]
            alert_rule_save [Permission("alerts:edit"), true, Change] (input: $crate::alert::rules::RuleSaveInput) -> $crate::alert::rules::RuleView
                => |api, slot| api.alert_rule_save(slot, input).await;
            #[doc = "Removes an alert rule; its firing alerts resolve."]
            alert_rule_remove [Permission("alerts:edit"), true, Change] (input: $crate::alert::rules::RuleNameInput) -> ()
                => |api, slot| api.alert_rule_remove(slot, input).await;
            #[doc = "When a rule would have fired over the last 24 hours of stored data (the duty's own evaluator replayed)."]
            alert_rule_preview [Permission("alerts:view"), false, Query] (input: $crate::alert::rules::RulePreviewInput) -> $crate::alert::rules::RulePreview
                => |api, slot| api.alert_rule_preview(slot, input).await;
            #[doc = "The routing configuration (alertmanager.yml; the default until one is saved), its receivers and what keeps any from sending."]
            alert_routing [Permission("alerts:view"), false, Query] () -> $crate::alert::routing::RoutingView
                => |api, slot| api.alert_routing(slot).await;
            #[doc = "Saves (or imports) an alertmanager.yml: checked as Alertmanager checks it, literal credentials moved into named secrets."]
            alert_routing_save [Permission("alerts:edit"), true, Change] (input: $crate::alert::routing::RoutingSaveInput) -> $crate::alert::routing::RoutingView
                => |api, slot| api.alert_routing_save(slot, input).await;
            #[doc = "The routing simulator: the receivers an alert reaches, with grouping and timers, and each message rendered as its channel shows it."]
            alert_route_preview [Permission("alerts:view"), false, Query] (input: $crate::alert::routing::RoutePreviewInput) -> Vec<$crate::alert::routing::RoutePreview>
                => |api, slot| api.alert_route_preview(slot, input).await;
            #[doc = "Sends a test alert through every integration of a receiver now; each service's answer."]
            alert_test_send [Permission("alerts:edit"), true, Change] (input: $crate::alert::routing::TestSendInput) -> Vec<$crate::alert::routing::TestSendResult>
                => |api, slot| api.alert_test_send(slot, input).await;
            #[doc = "Silences that have not ended, and those that ended in the last day."]
            alert_silences [Permission("alerts:view"), false, Query] () -> Vec<$crate::alert::silences::SilenceView>
                => |api, slot| api.alert_silences(slot).await;
            #[doc = "Adds a silence: matchers, start and end, a comment."]
            alert_silence_add [Permission("alerts:silence"), true, Change] (input: $crate::alert::silences::SilenceInput) -> $crate::alert::silences::SilenceView
                => |api, slot| api.alert_silence_add(slot, input).await;
            #[doc = "Ends a silence now."]
            alert_silence_expire [Permission("alerts:silence"), true, Change] (input: $crate::alert::silences::SilenceIdInput) -> ()
                => |api, slot| api.alert_silence_expire(slot, input).await;
            #[doc = "The alerts firing now (rules, events, Prometheus), each with the silence or inhibition muting it."]
            alert_firing [Permission("alerts:view"), false, Query] () -> Vec<$crate::alert::views::AlertView>
                => |api, slot| api.alert_firing(slot).await;
            #[doc = "Firings that started in a window (a week by default), newest first."]
            alert_history [Permission("alerts:view"), false, Query] (input: $crate::alert::views::HistoryInput) -> Vec<$crate::alert::views::AlertView>
                => |api, slot| api.alert_history(slot, input).await;
            #[doc = "The delivery log: each notification per integration with attempts, error and state, and per-channel totals and latency."]
            alert_deliveries [Permission("alerts:view"), false, Query] (input: $crate::alert::views::DeliveriesInput) -> $crate::alert::views::DeliveryLog
                => |api, slot| api.alert_deliveries(slot, input).await;
            #[doc = "Queues a dead letter again, due now."]
            alert_delivery_retry [Permission("alerts:edit"), true, Change] (input: $crate::alert::views::DeliveryKeyInput) -> ()
                => |api, slot| api.alert_delivery_retry(slot, input).await;
            #[doc = "Every backup in the repository, newest first: type, chain, sources, sizes, dedup ratio."]
            backup_list [Permission("backup:view"), false, Query] () -> Vec<$crate::backup::BackupView>
                => |api, slot| api.backup_list(slot).await;
            #[doc = "One backup: its chain, sources, server versions, tables and sizes."]
            backup_show [Permission("backup:view"), false, Query] (input: $crate::backup::BackupIdInput) -> $crate::backup::BackupView
                => |api, slot| api.backup_show(slot, input).await;
            #[doc = "Takes a full, differential or incremental backup of the chosen (or configured) sources as one recovery point."]
            backup_run [Permission("backup:run"), true, Job] (input: $crate::backup::BackupRunInput) -> $crate::jobs::JobStarted
                => |api, slot| api.backup_run(slot, input).await;
            #[doc = "Reads, decrypts and hashes every chunk of the chosen backups; damage names each chunk and the backups needing it."]
            backup_verify [Permission("backup:run"), true, Job] (input: $crate::backup::BackupVerifyInput) -> $crate::jobs::JobStarted
                => |api, slot| api.backup_verify(slot, input).await;
            #[doc = "What a restore would do: create or overwrite, where, the confirmation it needs, the space it takes."]
            backup_restore_plan [Permission("backup:restore"), false, Query] (input: $crate::backup::BackupRestoreInput) -> $crate::backup::RestorePlanView
                => |api, slot| api.backup_restore_plan(slot, input).await;
            #[doc = "Restores one source of a backup (checked first; typed confirmation and a safety backup where it overwrites), then compares row counts."]
            backup_restore [Permission("backup:restore"), true, Job] (input: $crate::backup::BackupRestoreInput) -> $crate::jobs::JobStarted
                => |api, slot| api.backup_restore(slot, input).await;
            #[doc = "A restore drill now: the newest recovery point's PostgreSQL sources restored into scratch databases, checked, timed against backup.rto, dropped."]
            backup_drill [Permission("backup:restore"), true, Job] () -> $crate::jobs::JobStarted
                => |api, slot| api.backup_drill(slot).await;
            #[doc = "The backup history as series: durations, bytes read and stored, outcomes, restore and drill durations, verify coverage."]
            backup_trends [Permission("backup:view"), false, Query] (input: $crate::backup::BackupTrendsInput) -> Vec<$crate::monitor::SeriesView>
                => |api, slot| api.backup_trends(slot, input).await;
            #[doc = "The backup policy in force: sources, retention, schedules with their runs, verify budget, RTO; keys the environment locks."]
            backup_policy [Permission("backup:view"), false, Query] () -> $crate::backup::BackupPolicyView
                => |api, slot| api.backup_policy(slot).await;
            #[doc = "Saves the backup policy to the config file in one checked, atomic write; in force at once (the scheduler re-plans)."]
            backup_policy_save [Permission("backup:edit"), true, Change] (input: $crate::backup::BackupPolicyInput) -> $crate::backup::BackupPolicyView
                => |api, slot| api.backup_policy_save(slot, input).await;
            #[doc = "Applies retention (keep_full, keep_age; dependents go with their full) and removes unreferenced packs; dry_run only reports."]
            backup_expire [Permission("backup:edit"), true, Change] (input: $crate::backup::BackupExpireInput) -> $crate::backup::ExpireView
                => |api, slot| api.backup_expire(slot, input).await;
        }
    };
}

macro_rules! define_commands {
    ($(
        #[doc = $doc:literal]
        $name:ident [$access:expr, $audited:literal, $kind:ident]
        ($($arg:ident : $ty:ty),*) -> $ret:ty
        => |$api:ident, $slot:ident| $body:expr;
    )*) => {
        /// Every command (the window's, then `qcatctl`'s own).
        pub const COMMANDS: &[CommandSpec] = &[
            $(CommandSpec {
                name: stringify!($name),
                summary: $doc,
                access: $access,
                audited: $audited,
                kind: Kind::$kind,
                ipc: true,
            },)*
            CommandSpec {
                name: "audit_export",
                summary: "Writes matching audit entries as CSV or JSON.",
                access: Permission("audit:export"),
                audited: true,
                kind: Kind::Query,
                ipc: false,
            },
            CommandSpec {
                name: "baseline_report_html",
                summary: "A baseline comparison report as one self-contained HTML page (qcatctl writes it where asked).",
                access: Permission("monitor:view"),
                audited: false,
                kind: Kind::Query,
                ipc: false,
            },
            CommandSpec {
                name: "rotate_master_key",
                summary: "Makes a new master key current and re-encrypts the user config file's secrets.",
                access: Permission("secrets:write"),
                audited: true,
                kind: Kind::Change,
                ipc: false,
            },
        ];

        /// The window's commands as uniform async functions (what the shell's wrappers
        /// call): the API, the caller's session slot, the arguments.
        pub mod ipc {
            use crate::{Api, ApiError, SessionSlot};
            $(
                #[doc = $doc]
                #[allow(clippy::unused_async)]
                pub async fn $name($api: &Api, $slot: &SessionSlot, $($arg: $ty),*) -> Result<$ret, ApiError> {
                    $body
                }
            )*
        }

        /// The TypeScript signature of every window command, from the Rust types.
        pub fn signatures() -> Vec<Signature> {
            let cfg = ts_rs::Config::new().with_large_int("number");
            vec![$(Signature {
                name: stringify!($name),
                args: vec![$((camel_case(stringify!($arg)), <$ty as ts_rs::TS>::name(&cfg))),*],
                returns: <$ret as ts_rs::TS>::name(&cfg),
            }),*]
        }
    };
}

use Access::{Permission, Public, SignedIn};

for_each_ipc_command!(define_commands);

/// `seen_version` → `seenVersion`, as Tauri expects argument names from JavaScript.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The registry entry for `name`.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|command| command.name == name)
}

/// The commands the window may call.
pub fn ipc_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(|command| command.ipc)
}

/// `src-tauri/command_names.rs`: the shell's build script makes one Tauri permission per
/// name.
pub fn shell_command_names() -> String {
    let mut out = String::from(
        "// Generated from qcat_api::commands::COMMANDS by `UPDATE_BINDINGS=1 cargo test -p qcat-api`:\n\
         // the IPC commands, for build.rs (one Tauri permission each). Do not edit.\n\
         pub const COMMAND_NAMES: &[&str] = &[\n",
    );
    for command in ipc_commands() {
        out.push_str(&format!("    \"{}\",\n", command.name));
    }
    out.push_str("];\n");
    out
}

/// `src-tauri/capabilities/main.json`: the window may call exactly the IPC commands, listen
/// for the core's events, and show desktop notifications.
pub fn window_capability() -> String {
    let mut permissions: Vec<String> = ipc_commands()
        .map(|command| format!("allow-{}", command.name.replace('_', "-")))
        .collect();
    permissions.push("core:event:allow-listen".into());
    permissions.push("core:event:allow-unlisten".into());
    // Desktop notifications (CRITICAL alerts while the window is open).
    permissions.push("notification:default".into());
    let capability = serde_json::json!({
        "$schema": "../../gen/schemas/desktop-schema.json",
        "identifier": "main-window",
        "description": "Generated from qcat_api::commands::COMMANDS: exactly the app commands the window uses, listening for the core's live events, and desktop notifications; nothing else.",
        "windows": ["main"],
        "permissions": permissions,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&capability).unwrap_or_default()
    )
}
