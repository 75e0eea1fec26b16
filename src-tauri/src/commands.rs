//! IPC commands: each one line over `qcat_api::Api`, with the window's session slot. No SQL,
//! HTTP or file I/O here, and no permission logic: `Api` checks every call.

use qcat_api::access::{
    AccessExplanation, AccessModel, LoginInput, NewUserInput, PasswordInput, RoleChange, RoleInput,
    RoleView, SessionView, SetupStatus, UserView,
};
use qcat_api::audit::{AuditEntryView, AuditExportInput, AuditFilterInput, AuditQuery};
use qcat_api::config::SettingChange;
use qcat_api::dto::{AppInfo, ConfigView, StorageStatus};
use qcat_api::jobs::{JobIdInput, JobStarted, JobView};
use qcat_api::logs::{FrontendLog, LogFile, LogLine, LogQuery};
use qcat_api::runtime::RuntimeStatus;
use qcat_api::schedules::ScheduleView;
use qcat_api::secrets::NamedSecretInput;
use qcat_api::{Api, ApiError, SessionSlot};
use tauri::State;

type Slot<'a> = State<'a, SessionSlot>;

#[tauri::command]
pub fn app_info(api: State<'_, Api>) -> AppInfo {
    api.app_info()
}

#[tauri::command]
pub async fn storage_status(api: State<'_, Api>) -> Result<StorageStatus, ApiError> {
    Ok(api.storage_status().await)
}

#[tauri::command]
pub fn setup_status(api: State<'_, Api>) -> Result<SetupStatus, ApiError> {
    api.setup_status()
}

#[tauri::command]
pub async fn create_first_admin(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: NewUserInput,
) -> Result<SessionView, ApiError> {
    api.create_first_admin(&slot, input).await
}

#[tauri::command]
pub async fn login(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: LoginInput,
) -> Result<SessionView, ApiError> {
    api.login(&slot, input).await
}

#[tauri::command]
pub async fn logout(api: State<'_, Api>, slot: Slot<'_>) -> Result<(), ApiError> {
    api.logout(&slot).await
}

#[tauri::command]
pub fn current_session(
    api: State<'_, Api>,
    slot: Slot<'_>,
) -> Result<Option<SessionView>, ApiError> {
    api.current_session(&slot)
}

#[tauri::command]
pub async fn change_password(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: PasswordInput,
) -> Result<(), ApiError> {
    api.change_password(&slot, input).await
}

#[tauri::command]
pub async fn config_settings(api: State<'_, Api>, slot: Slot<'_>) -> Result<ConfigView, ApiError> {
    api.config_settings(&slot).await
}

#[tauri::command]
pub async fn set_setting(
    api: State<'_, Api>,
    slot: Slot<'_>,
    key: String,
    value: String,
) -> Result<SettingChange, ApiError> {
    api.set_setting(&slot, &key, &value).await
}

#[tauri::command]
pub async fn log_files(api: State<'_, Api>, slot: Slot<'_>) -> Result<Vec<LogFile>, ApiError> {
    api.log_files(&slot).await
}

#[tauri::command]
pub async fn log_lines(
    api: State<'_, Api>,
    slot: Slot<'_>,
    query: LogQuery,
) -> Result<Vec<LogLine>, ApiError> {
    api.log_lines(&slot, query).await
}

#[tauri::command]
pub fn log_frontend(api: State<'_, Api>, entry: FrontendLog) -> Result<(), ApiError> {
    api.log_frontend(&entry)
}

#[tauri::command]
pub async fn named_secrets(api: State<'_, Api>, slot: Slot<'_>) -> Result<Vec<String>, ApiError> {
    api.named_secrets(&slot).await
}

#[tauri::command]
pub async fn set_named_secret(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: NamedSecretInput,
) -> Result<(), ApiError> {
    api.set_named_secret(&slot, input).await
}

#[tauri::command]
pub async fn access_model(api: State<'_, Api>, slot: Slot<'_>) -> Result<AccessModel, ApiError> {
    api.access_model(&slot).await
}

#[tauri::command]
pub async fn explain_access(
    api: State<'_, Api>,
    slot: Slot<'_>,
    username: String,
    permission: String,
) -> Result<AccessExplanation, ApiError> {
    api.explain_access(&slot, &username, &permission).await
}

#[tauri::command]
pub async fn save_role(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: RoleInput,
) -> Result<RoleView, ApiError> {
    api.save_role(&slot, input).await
}

#[tauri::command]
pub async fn edit_role(
    api: State<'_, Api>,
    slot: Slot<'_>,
    role: String,
    change: RoleChange,
    seen_version: Option<i64>,
) -> Result<RoleView, ApiError> {
    api.edit_role(&slot, &role, change, seen_version).await
}

#[tauri::command]
pub async fn delete_role(
    api: State<'_, Api>,
    slot: Slot<'_>,
    name: String,
    seen_version: Option<i64>,
) -> Result<(), ApiError> {
    api.delete_role(&slot, &name, seen_version).await
}

#[tauri::command]
pub async fn create_user(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: NewUserInput,
) -> Result<UserView, ApiError> {
    api.create_user(&slot, input).await
}

#[tauri::command]
pub async fn set_user_roles(
    api: State<'_, Api>,
    slot: Slot<'_>,
    username: String,
    roles: Vec<String>,
    seen_version: Option<i64>,
) -> Result<UserView, ApiError> {
    api.set_user_roles(&slot, &username, roles, seen_version)
        .await
}

#[tauri::command]
pub async fn set_user_enabled(
    api: State<'_, Api>,
    slot: Slot<'_>,
    username: String,
    enabled: bool,
    seen_version: Option<i64>,
) -> Result<UserView, ApiError> {
    api.set_user_enabled(&slot, &username, enabled, seen_version)
        .await
}

#[tauri::command]
pub async fn audit_page(
    api: State<'_, Api>,
    slot: Slot<'_>,
    query: AuditQuery,
) -> Result<Vec<AuditEntryView>, ApiError> {
    api.audit_page(&slot, query).await
}

#[tauri::command]
pub async fn audit_count(
    api: State<'_, Api>,
    slot: Slot<'_>,
    filter: AuditFilterInput,
) -> Result<i64, ApiError> {
    api.audit_count(&slot, filter).await
}

#[tauri::command]
pub async fn audit_verify(api: State<'_, Api>, slot: Slot<'_>) -> Result<JobStarted, ApiError> {
    api.audit_verify(&slot).await
}

#[tauri::command]
pub async fn audit_export_file(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: AuditExportInput,
) -> Result<JobStarted, ApiError> {
    api.audit_export_file(&slot, input).await
}

#[tauri::command]
pub async fn job_cancel(
    api: State<'_, Api>,
    slot: Slot<'_>,
    input: JobIdInput,
) -> Result<(), ApiError> {
    api.job_cancel(&slot, input).await
}

#[tauri::command]
pub async fn jobs_recent(api: State<'_, Api>, slot: Slot<'_>) -> Result<Vec<JobView>, ApiError> {
    api.jobs_recent(&slot).await
}

#[tauri::command]
pub async fn schedules_list(
    api: State<'_, Api>,
    slot: Slot<'_>,
) -> Result<Vec<ScheduleView>, ApiError> {
    api.schedules_list(&slot).await
}

#[tauri::command]
pub async fn runtime_status(
    api: State<'_, Api>,
    slot: Slot<'_>,
) -> Result<RuntimeStatus, ApiError> {
    api.runtime_status(&slot).await
}
