//! Which store the `[database]` settings select: a `postgres://` URL, a PostgreSQL server
//! described by host/port/user/password/name (the seed's keys), or the embedded SQLite file.

use qcat_core::ErrorCode;
use qcat_core::config::DatabaseConfig;
use qcat_core::paths::DataDir;
use qcat_secrets::Keyring;
use qcat_store::StoreTarget;

use crate::ApiError;
use crate::secrets::resolve;

pub(crate) fn store_target(
    database: &DatabaseConfig,
    data_dir: &DataDir,
    keys: Result<&Keyring, &ApiError>,
) -> Result<StoreTarget, ApiError> {
    if !database.url.is_empty() {
        let url = resolve(keys, "database.url", &database.url)?;
        return StoreTarget::from_setting(url.expose(), data_dir.sqlite_file())
            .map_err(|err| ApiError::storage_ref(&err));
    }
    if database.host.trim().is_empty() {
        return Ok(StoreTarget::Sqlite(data_dir.sqlite_file()));
    }
    let mut url = url::Url::parse("postgres://localhost/").expect("a constant URL parses");
    let invalid = |what: &str| {
        ApiError::new(
            ErrorCode::InvalidConfig,
            format!("database.{what} cannot be used in a PostgreSQL URL; correct it"),
        )
    };
    url.set_host(Some(database.host.trim()))
        .map_err(|_| invalid("host"))?;
    url.set_port(Some(database.port))
        .map_err(|_| invalid("port"))?;
    url.set_username(&database.user)
        .map_err(|_| invalid("user"))?;
    if !database.password.is_empty() {
        let password = resolve(keys, "database.password", &database.password)?;
        url.set_password(Some(password.expose()))
            .map_err(|_| invalid("password"))?;
    }
    url.set_path(&database.name);
    Ok(StoreTarget::Postgres(url.to_string()))
}
