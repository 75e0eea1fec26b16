//! IPC commands: each one line over `qcat_api::Api`. No SQL, HTTP or file I/O here.

use qcat_api::dto::{AppInfo, ConfigView, StorageStatus};
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
