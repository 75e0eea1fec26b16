//! IPC commands: each one line over `qcat_api::Api`. No SQL, HTTP or file I/O here.

use qcat_api::dto::{AppInfo, StorageStatus};
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
