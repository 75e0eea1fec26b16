//! Folders through the repository: contents, modes, mtimes and symlinks come back in a new
//! folder, a non-empty one is refused, and `tar` reads the reassembled stream.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use qcat_backup::sources::files;
use qcat_backup::{BackupType, BackupWriter, Repository};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_secrets::MasterKey;

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::symlink_metadata(path).unwrap().modified().unwrap()
}

#[test]
fn folders_come_back_with_modes_mtimes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("qcat-console");
    std::fs::create_dir_all(config.join("rules/desk")).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "[app]\nenvironment = \"production\"\n",
    )
    .unwrap();
    std::fs::write(config.join("rules/desk/limits.yml"), vec![b'x'; 200_000]).unwrap();
    std::fs::write(config.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        config.join("config.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(
        config.join("run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::os::unix::fs::symlink("rules/desk/limits.yml", config.join("limits")).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(config.join("config.toml"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let repo_root = dir.path().join("repo");
    let repo = Repository::init(&repo_root, &MasterKey::generate()).unwrap();
    let mut writer = BackupWriter::start(&repo, BackupType::Full, "files").unwrap();
    let record = files::backup(
        &mut writer,
        "config",
        "production",
        std::slice::from_ref(&config),
        std::slice::from_ref(&repo_root),
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(record.items, 3, "three regular files (the link is not one)");
    writer.add_source(record);
    let manifest = writer.commit().unwrap();

    let into = dir.path().join("restored");
    let report = files::restore(
        &repo,
        &manifest,
        "config",
        &into,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert!(report.passed, "{report:?}");
    let back = into.join("0-qcat-console");
    for name in ["config.toml", "rules/desk/limits.yml", "run.sh"] {
        assert_eq!(
            std::fs::read(back.join(name)).unwrap(),
            std::fs::read(config.join(name)).unwrap(),
            "{name}"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&back.join(name)),
            mode(&config.join(name)),
            "{name}'s mode"
        );
    }
    assert_eq!(mtime(&back.join("config.toml")), old, "the mtime is kept");
    assert_eq!(
        std::fs::read_link(back.join("limits")).unwrap(),
        Path::new("rules/desk/limits.yml")
    );

    // Never into a folder that holds something.
    let again = files::restore(
        &repo,
        &manifest,
        "config",
        &into,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    );
    assert!(
        matches!(again, Err(qcat_backup::BackupError::Refused(ref why)) if why.contains("not empty")),
        "{again:?}"
    );

    // The stream is a tar file `tar` lists as it is.
    let tar_file = dir.path().join("config.tar");
    let mut out = std::fs::File::create(&tar_file).unwrap();
    qcat_backup::restore::write_stream(
        &repo,
        &manifest.sources[0].streams[0],
        &mut out,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    let listed = std::process::Command::new("tar")
        .arg("-tvf")
        .arg(&tar_file)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success()
            && listing.contains("0-qcat-console/rules/desk/limits.yml")
            && listing.contains("-rwxr-x---"),
        "{listing}"
    );
}
