//! Key files, named secrets in the file store, and rotation, on real files.

use std::os::unix::fs::PermissionsExt;

use qcat_core::secret::Secret;
use qcat_secrets::cipher;
use qcat_secrets::keys::{KeyOptions, init_key_file};
use qcat_secrets::{KeySource, Keyring, KeyringError, named, rotate};

fn file_options(path: &std::path::Path) -> KeyOptions {
    KeyOptions {
        key_file: Some(path.to_owned()),
        ..KeyOptions::default()
    }
}

#[test]
fn key_init_writes_a_0600_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let key = init_key_file(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the owner may read a master key");
    let keys = Keyring::load_or_create(&file_options(&path)).unwrap();
    assert_eq!(keys.current().id(), key.id());
    assert_eq!(keys.source(), &KeySource::File(path.clone()));
    // A second init must never destroy the key that encrypted existing values.
    assert!(matches!(
        init_key_file(&path),
        Err(KeyringError::WouldOverwrite { .. })
    ));
    assert_eq!(
        Keyring::load_or_create(&file_options(&path))
            .unwrap()
            .current()
            .id(),
        key.id()
    );
}

#[test]
fn a_key_file_readable_by_others_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    init_key_file(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Keyring::load_or_create(&file_options(&path)).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn a_missing_key_file_is_a_clear_error() {
    let err =
        Keyring::load_or_create(&file_options(std::path::Path::new("/nonexistent/k"))).unwrap_err();
    assert!(err.to_string().contains("QCAT_MASTER_KEY_FILE"), "{err}");
}

#[test]
fn named_secrets_in_the_file_store_survive_a_reload_and_list_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    init_key_file(&path).unwrap();
    let keys = Keyring::load_or_create(&file_options(&path)).unwrap();
    named::set(&keys, "smtp_password", &Secret::new("hunter2".into())).unwrap();
    named::set(&keys, "dingtalk_secret", &Secret::new("SEC123".into())).unwrap();

    // A new process loads the keys again and finds the value.
    let reloaded = Keyring::load_or_create(&file_options(&path)).unwrap();
    assert_eq!(
        named::get(&reloaded, "smtp_password").unwrap().expose(),
        "hunter2"
    );
    assert_eq!(
        named::list(&reloaded).unwrap(),
        vec!["dingtalk_secret".to_owned(), "smtp_password".to_owned()]
    );
    let on_disk = std::fs::read_to_string(dir.path().join("master.key.secrets")).unwrap();
    assert!(!on_disk.contains("hunter2"), "values are encrypted at rest");
    let mode = std::fs::metadata(dir.path().join("master.key.secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(matches!(
        named::get(&reloaded, "nope"),
        Err(named::NamedSecretError::Missing(_))
    ));
    assert!(matches!(
        named::set(&reloaded, "bad name!", &Secret::new("x".into())),
        Err(named::NamedSecretError::BadName(_))
    ));
}

#[test]
fn rotation_reencrypts_the_config_file_keeps_a_backup_and_its_comments() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    init_key_file(&key_path).unwrap();
    let mut keys = Keyring::load_or_create(&file_options(&key_path)).unwrap();
    let old_id = keys.current().id().to_owned();
    named::set(&keys, "smtp_password", &Secret::new("mail-pass".into())).unwrap();
    let config = dir.path().join("config.toml");
    let original = format!(
        "# production settings\n[database]\npassword = \"{}\" # the app user\n\n[redis]\npassword = \"{}\"\naddr = \"127.0.0.1:6379\"\n",
        keys.current().encrypt("database.password", "db-pass"),
        keys.current().encrypt("redis.password", "redis-pass"),
    );
    std::fs::write(&config, &original).unwrap();

    let report = rotate::rotate(&mut keys, Some(&config)).unwrap();
    assert_eq!(report.old_key, old_id);
    assert_ne!(report.new_key, old_id);
    assert_eq!(report.config_values, 2);
    assert_eq!(report.named_secrets, 1);

    let rewritten = std::fs::read_to_string(&config).unwrap();
    assert!(rewritten.contains("# production settings") && rewritten.contains("# the app user"));
    assert!(rewritten.contains(&format!("ENC:v1:{}:", report.new_key)));
    assert!(
        !rewritten.contains(&format!("ENC:v1:{old_id}:")),
        "no value left on the old key"
    );
    assert_eq!(
        std::fs::read_to_string(report.backup.as_ref().unwrap()).unwrap(),
        original,
        "the old file is kept"
    );

    // After a reload, everything decrypts with the new current key.
    let reloaded = Keyring::load_or_create(&file_options(&key_path)).unwrap();
    assert_eq!(reloaded.current().id(), report.new_key);
    let table: toml::Table = rewritten.parse().unwrap();
    let value = table["database"]["password"].as_str().unwrap();
    assert_eq!(
        cipher::decrypt(&[reloaded.current().clone()], "database.password", value)
            .unwrap()
            .expose(),
        "db-pass"
    );
    assert_eq!(
        named::get(&reloaded, "smtp_password").unwrap().expose(),
        "mail-pass"
    );
}

#[test]
fn rotation_stops_before_writing_when_a_value_does_not_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    init_key_file(&key_path).unwrap();
    let mut keys = Keyring::load_or_create(&file_options(&key_path)).unwrap();
    let config = dir.path().join("config.toml");
    let foreign = qcat_secrets::MasterKey::generate().encrypt("jwt.secret_key", "x");
    let original = format!("[jwt]\nsecret_key = \"{foreign}\"\n");
    std::fs::write(&config, &original).unwrap();
    let key_file_before = std::fs::read_to_string(&key_path).unwrap();

    let err = rotate::rotate(&mut keys, Some(&config)).unwrap_err();
    assert!(err.to_string().contains("jwt.secret_key"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap(),
        key_file_before,
        "no new key was stored"
    );
}
