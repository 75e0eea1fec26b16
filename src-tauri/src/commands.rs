//! IPC commands, generated from the API's command table (`qcat_api::for_each_ipc_command!`):
//! one `#[tauri::command]` per entry, each a one-line call of the matching function in
//! `qcat_api::commands::ipc` with the window's session slot, and the handler list. No SQL,
//! HTTP or file I/O here, and no permission logic: `Api` checks every call.

macro_rules! shell_commands {
    ($(
        #[doc = $doc:literal]
        $name:ident [$($meta:tt)*]
        ($($arg:ident : $ty:ty),*) -> $ret:ty
        => |$api:ident, $slot:ident| $body:expr;
    )*) => {
        $(
            #[doc = $doc]
            #[tauri::command]
            pub async fn $name(
                api: tauri::State<'_, qcat_api::Api>,
                slot: tauri::State<'_, qcat_api::SessionSlot>,
                $($arg: $ty),*
            ) -> Result<$ret, qcat_api::ApiError> {
                qcat_api::commands::ipc::$name(&api, &slot, $($arg),*).await
            }
        )*

        /// Every command of the table, for `Builder::invoke_handler`.
        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($name),*]
        }

        /// The handler list's names, in order (tested against the API's registry).
        #[cfg(test)]
        pub const HANDLED: &[&str] = &[$(stringify!($name)),*];
    };
}

qcat_api::for_each_ipc_command!(shell_commands);
