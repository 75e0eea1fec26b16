//! IPC commands: each one line over `qcat_api::Api`. No SQL, HTTP or file I/O here.

use qcat_api::config::SettingChange;
use qcat_api::dto::{AppInfo, ConfigView, StorageStatus};
use qcat_api::logs::{FrontendLog, LogFile, LogLine, LogQuery};
use qcat_api::secrets::NamedSecretInput;
use qcat_api::{Api, ApiError};
use tauri::State;

#[tauri::command]
pub fn app_info(api: State<'_, Api>) -> AppInfo {
    api.app_info()
}

#[tauri::command]
pub async fn storage_status(api: State<'_, Api>) -> Result<StorageStatus, ApiError> {
    Ok(api.storage_status().await)
}

#[tauri::command]
pub fn config_settings(api: State<'_, Api>) -> ConfigView {
    api.config_settings()
}

#[tauri::command]
pub async fn set_setting(
    api: State<'_, Api>,
    key: String,
    value: String,
) -> Result<SettingChange, ApiError> {
    let api = api.inner().clone();
    tauri::async_runtime::spawn_blocking(move || api.set_setting(&key, &value))
        .await
        .map_err(|err| ApiError::internal(&err))?
}

#[tauri::command]
pub fn log_files(api: State<'_, Api>) -> Vec<LogFile> {
    api.log_files()
}

#[tauri::command]
pub async fn log_lines(api: State<'_, Api>, query: LogQuery) -> Result<Vec<LogLine>, ApiError> {
    let api = api.inner().clone();
    tauri::async_runtime::spawn_blocking(move || api.log_lines(&query))
        .await
        .map_err(|err| ApiError::internal(&err))?
}

#[tauri::command]
pub fn log_frontend(api: State<'_, Api>, entry: FrontendLog) -> Result<(), ApiError> {
    api.log_frontend(&entry)
}

#[tauri::command]
pub async fn named_secrets(api: State<'_, Api>) -> Result<Vec<String>, ApiError> {
    let api = api.inner().clone();
    tauri::async_runtime::spawn_blocking(move || api.named_secrets())
        .await
        .map_err(|err| ApiError::internal(&err))?
}

#[tauri::command]
pub async fn set_named_secret(
    api: State<'_, Api>,
    input: NamedSecretInput,
) -> Result<(), ApiError> {
    let api = api.inner().clone();
    tauri::async_runtime::spawn_blocking(move || api.set_named_secret(&input))
        .await
        .map_err(|err| ApiError::internal(&err))?
}
