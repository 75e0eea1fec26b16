//! The repository on its own: chains, dedup, damage, keys, formats, cancellation and garbage.

use std::collections::BTreeSet;

use qcat_backup::error::BackupError;
use qcat_backup::repo::manifest::SourceRecord;
use qcat_backup::{BackupType, BackupWriter, Repository};
use qcat_runtime::CancellationToken;
use qcat_runtime::progress::Progress;
use qcat_secrets::MasterKey;

/// Deterministic bytes that do not compress (xorshift), so chunk boundaries are content's.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn source(name: &str, stream: qcat_backup::repo::manifest::Stream) -> SourceRecord {
    SourceRecord {
        name: name.into(),
        kind: "files".into(),
        environment: "development".into(),
        location: "test".into(),
        database: String::new(),
        server_version: String::new(),
        tool_version: String::new(),
        consistency: String::new(),
        streams: vec![stream],
        tables: Vec::new(),
        items: 0,
    }
}

fn back_up(repo: &Repository, kind: BackupType, data: &[u8]) -> qcat_backup::Manifest {
    let mut writer = BackupWriter::start(repo, kind, "test").unwrap();
    let stream = writer
        .add_stream(
            "data",
            "raw",
            data,
            &Progress::silent("bytes"),
            &CancellationToken::new(),
        )
        .unwrap();
    writer.add_source(source("data", stream));
    writer.commit().unwrap()
}

fn read_back(repo: &Repository, manifest: &qcat_backup::Manifest) -> Result<Vec<u8>, BackupError> {
    let mut out = Vec::new();
    qcat_backup::restore::write_stream(
        repo,
        &manifest.sources[0].streams[0],
        &mut out,
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )?;
    Ok(out)
}

fn packs_of(manifest: &qcat_backup::Manifest) -> BTreeSet<String> {
    manifest.packs().into_iter().map(str::to_owned).collect()
}

#[test]
fn chains_share_chunks_as_pgbackrest_types_say_and_every_backup_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate();
    let repo = Repository::init(&dir.path().join("repo"), &master).unwrap();
    let mut data = noise(1, 8 << 20);
    let full = back_up(&repo, BackupType::Full, &data);
    assert_eq!(full.kind, BackupType::Full);
    assert_eq!(full.full, full.id, "a full roots its own chain");

    // Change 64 KiB in the middle: an incremental stores a few chunks, not the 8 MiB.
    data[4 << 20..(4 << 20) + 65536].copy_from_slice(&noise(2, 65536));
    let incr = back_up(&repo, BackupType::Incr, &data);
    assert_eq!(incr.parent.as_deref(), Some(full.id.as_str()));
    assert!(
        incr.stats.stored_bytes < full.stats.stored_bytes / 20,
        "the incremental stored {} of the full's {} bytes",
        incr.stats.stored_bytes,
        full.stats.stored_bytes
    );
    data.extend(noise(3, 1 << 20));
    let incr2 = back_up(&repo, BackupType::Incr, &data);
    assert_eq!(
        incr2.parent.as_deref(),
        Some(incr.id.as_str()),
        "incr builds on the newest backup"
    );
    let diff = back_up(&repo, BackupType::Diff, &data);
    assert_eq!(
        diff.parent.as_deref(),
        Some(full.id.as_str()),
        "diff builds on the full only"
    );
    // A diff may reuse only its full's chunks: none of the incrementals' packs.
    // (An incremental's manifest names its full's packs too; only the ones it wrote count.)
    let incrementals: BTreeSet<String> = packs_of(&incr)
        .union(&packs_of(&incr2))
        .filter(|pack| !packs_of(&full).contains(*pack))
        .cloned()
        .collect();
    assert!(!incrementals.is_empty());
    assert!(
        packs_of(&diff).is_disjoint(&incrementals),
        "the diff reuses an incremental's chunks"
    );
    assert!(
        !packs_of(&diff).is_disjoint(&packs_of(&full)),
        "the diff reuses its full's chunks"
    );
    // A new full shares nothing with older backups, so it survives their loss.
    let full2 = back_up(&repo, BackupType::Full, &data);
    for older in [&full, &incr, &incr2, &diff] {
        assert!(
            packs_of(&full2).is_disjoint(&packs_of(older)),
            "the new full shares packs with {}",
            older.id
        );
    }
    assert_eq!(read_back(&repo, &incr2).unwrap(), data);
    assert_eq!(read_back(&repo, &diff).unwrap(), data);
    assert_eq!(read_back(&repo, &full2).unwrap(), data);
    // Reopened with the master key, the repository lists the five backups, oldest first.
    let reopened = Repository::open(repo.root(), &[master]).unwrap();
    let ids: Vec<String> = reopened
        .backups()
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![full.id, incr.id, incr2.id, diff.id, full2.id]);
}

#[test]
fn a_diff_or_incr_without_a_full_is_taken_as_a_full_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let writer = BackupWriter::start(&repo, BackupType::Incr, "first").unwrap();
    assert_eq!(writer.chain().kind, BackupType::Full);
    assert!(
        writer.chain().promoted,
        "the caller is told the type changed"
    );
}

#[test]
fn one_flipped_byte_is_named_with_every_backup_that_needs_it_and_refused_on_restore() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let mut data = noise(5, 2 << 20);
    let full = back_up(&repo, BackupType::Full, &data);
    data.extend(noise(6, 300_000));
    let incr = back_up(&repo, BackupType::Incr, &data);
    let victim = full.sources[0].streams[0].chunks[3].clone();
    let path = repo
        .root()
        .join("packs")
        .join(&victim.pack[..2])
        .join(&victim.pack);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[victim.offset as usize + 40] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let report = qcat_backup::verify::verify(
        &repo,
        &[],
        &Progress::silent("bytes"),
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(
        report.damaged.len(),
        1,
        "exactly the flipped chunk is damaged: {report:?}"
    );
    assert_eq!(report.damaged[0].chunk, victim.id.to_hex());
    let hurt: BTreeSet<&str> = report.damaged_backups();
    assert_eq!(
        hurt,
        BTreeSet::from([full.id.as_str(), incr.id.as_str()]),
        "the incr needs the full's chunk too"
    );
    match read_back(&repo, &incr) {
        Err(BackupError::Damaged { chunk, .. }) => assert_eq!(chunk, victim.id.to_hex()),
        other => panic!("a damaged chunk must stop the restore, got {other:?}"),
    }
}

#[test]
fn wrong_missing_and_newer_keys_and_formats_each_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate();
    let root = dir.path().join("repo");
    Repository::init(&root, &master).unwrap();
    match Repository::open(&root, &[MasterKey::generate()]) {
        Err(BackupError::MissingKey { key_id }) => assert_eq!(key_id, master.id()),
        other => panic!("another master key is a missing key, got {other:?}"),
    }
    assert!(matches!(
        Repository::open(&dir.path().join("nowhere"), std::slice::from_ref(&master)),
        Err(BackupError::NotARepository { .. })
    ));
    // A key with the right id but other bytes cannot exist by chance; altering the wrapped
    // key is what a wrong key looks like.
    let description = root.join("repository.json");
    let text = std::fs::read_to_string(&description).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = value["key"].as_str().unwrap().to_owned();
    let (head, body) = key.rsplit_once(':').unwrap();
    let mut body = body.to_owned().into_bytes();
    body[5] = if body[5] == b'A' { b'B' } else { b'A' };
    value["key"] = format!("{head}:{}", String::from_utf8(body).unwrap()).into();
    std::fs::write(&description, serde_json::to_vec(&value).unwrap()).unwrap();
    assert!(matches!(
        Repository::open(&root, std::slice::from_ref(&master)),
        Err(BackupError::WrongKey { .. })
    ));
    value["format"] = 2.into();
    std::fs::write(&description, serde_json::to_vec(&value).unwrap()).unwrap();
    match Repository::open(&root, &[master]) {
        Err(
            err @ BackupError::NewerFormat {
                found: 2,
                supported: 1,
                ..
            },
        ) => {
            assert!(err.to_string().contains("update QCAT Console"), "{err}")
        }
        other => panic!("a newer format is refused as such, got {other:?}"),
    }
    assert!(matches!(
        Repository::init(&root, &MasterKey::generate()),
        Err(BackupError::NotEmpty { .. })
    ));
}

#[test]
fn a_cancelled_backup_is_never_listed_and_its_packs_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let kept = back_up(&repo, BackupType::Full, &noise(7, 1 << 20));
    let cancel = CancellationToken::new();
    let mut writer = BackupWriter::start(&repo, BackupType::Full, "cancelled").unwrap();
    // A reader that cancels after 40 MiB, so at least one pack was finished into packs/.
    struct CancelAfter<'c> {
        left: usize,
        cancel: &'c CancellationToken,
        seed: u64,
    }
    impl std::io::Read for CancelAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                self.cancel.cancel();
                let n = buf.len().min(4096);
                buf[..n].fill(7);
                return Ok(n);
            }
            let n = buf.len().min(self.left).min(1 << 16);
            self.seed += 1;
            buf[..n].copy_from_slice(&noise(self.seed, n));
            self.left -= n;
            Ok(n)
        }
    }
    let result = writer.add_stream(
        "data",
        "raw",
        CancelAfter {
            left: 40 << 20,
            cancel: &cancel,
            seed: 100,
        },
        &Progress::silent("bytes"),
        &cancel,
    );
    assert!(matches!(result, Err(BackupError::Cancelled)), "{result:?}");
    writer.abandon();
    let listed: Vec<String> = repo.backups().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(
        listed,
        vec![kept.id.clone()],
        "the cancelled backup is not a backup"
    );
    let before = repo.pack_names().unwrap().len();
    assert!(
        before > packs_of(&kept).len(),
        "the cancelled backup left a finished pack behind"
    );
    let lock = repo.lock_exclusive("test").unwrap();
    let report = repo.collect_garbage(&lock).unwrap();
    drop(lock);
    assert!(report.packs >= 1);
    let after: BTreeSet<String> = repo.pack_names().unwrap();
    assert_eq!(
        after,
        packs_of(&kept),
        "exactly the kept backup's packs remain"
    );
    assert_eq!(read_back(&repo, &kept).unwrap(), noise(7, 1 << 20));
}

#[test]
fn one_writer_at_a_time_and_no_reader_during_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let held = repo.lock_exclusive("the first backup").unwrap();
    match BackupWriter::start(&repo, BackupType::Full, "second") {
        Err(err @ BackupError::Locked { .. }) => {
            assert!(err.to_string().contains("the first backup"), "{err}")
        }
        Err(other) => panic!("expected the lock, got {other:?}"),
        Ok(_) => panic!("a second writer got the lock"),
    }
    assert!(matches!(
        repo.lock_shared("verify"),
        Err(BackupError::Locked { .. })
    ));
    drop(held);
    let reader = repo.lock_shared("verify").unwrap();
    let _second_reader = repo.lock_shared("restore").unwrap();
    assert!(matches!(
        repo.lock_exclusive("expire"),
        Err(BackupError::Locked { .. })
    ));
    drop(reader);
}

#[test]
fn expiring_a_full_removes_exactly_its_dependents_and_their_packs() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    let mut data = noise(11, 1 << 20);
    let full1 = back_up(&repo, BackupType::Full, &data);
    data.extend(noise(12, 200_000));
    let incr1 = back_up(&repo, BackupType::Incr, &data);
    let diff1 = back_up(&repo, BackupType::Diff, &data);
    let full2 = back_up(&repo, BackupType::Full, &data);
    data.extend(noise(13, 200_000));
    let incr2 = back_up(&repo, BackupType::Incr, &data);
    let full3 = back_up(&repo, BackupType::Full, &data);
    let retention = qcat_backup::expire::Retention {
        keep_full: Some(2),
        max_age: None,
    };
    let dry = qcat_backup::expire::expire(&repo, retention, true).unwrap();
    assert_eq!(
        dry.expired,
        vec![full1.id.clone(), incr1.id.clone(), diff1.id.clone()]
    );
    assert_eq!(
        repo.backups().unwrap().len(),
        6,
        "a dry run changes nothing"
    );
    let done = qcat_backup::expire::expire(&repo, retention, false).unwrap();
    assert_eq!(
        done.expired, dry.expired,
        "the run does what the dry run said"
    );
    let left: Vec<String> = repo.backups().unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(
        left,
        vec![full2.id.clone(), incr2.id.clone(), full3.id.clone()]
    );
    let wanted: BTreeSet<String> = [&full2, &incr2, &full3]
        .iter()
        .flat_map(|m| packs_of(m))
        .collect();
    assert_eq!(
        repo.pack_names().unwrap(),
        wanted,
        "the expired chain's packs are collected, the rest stay"
    );
    assert_eq!(
        read_back(&repo, &incr2).unwrap(),
        data,
        "the kept chain still restores"
    );
    // An age keeps young fulls even beyond the count; the newest full is never expired.
    let by_age = qcat_backup::expire::Retention {
        keep_full: None,
        max_age: Some(std::time::Duration::from_secs(3600)),
    };
    assert!(
        qcat_backup::expire::expire(&repo, by_age, true)
            .unwrap()
            .expired
            .is_empty()
    );
    let tiny = qcat_backup::expire::Retention {
        keep_full: Some(1),
        max_age: None,
    };
    assert_eq!(
        qcat_backup::expire::expire(&repo, tiny, true)
            .unwrap()
            .expired,
        vec![full2.id, incr2.id]
    );
}

#[test]
fn rolling_verification_reads_the_least_recently_verified_packs_first_and_reports_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(&dir.path().join("repo"), &MasterKey::generate()).unwrap();
    // Three fulls of 40 MiB of noise: two packs each (32 MiB per pack).
    for seed in 0..3 {
        back_up(&repo, BackupType::Full, &noise(100 + seed, 40 << 20));
    }
    let packs = repo.pack_names().unwrap().len();
    assert_eq!(packs, 6);
    let progress = Progress::silent("bytes");
    let cancel = CancellationToken::new();
    assert_eq!(
        qcat_backup::verify::coverage(&repo, 7).unwrap().share,
        0.0,
        "nothing verified yet"
    );
    // A zero budget still finishes the pack it starts: one pack per run here.
    let first =
        qcat_backup::verify::rolling(&repo, std::time::Duration::ZERO, 7, &progress, &cancel)
            .unwrap();
    assert_eq!(first.packs_verified, 0, "a spent budget starts nothing");
    let mut seen = BTreeSet::new();
    let mut shares = Vec::new();
    for _ in 0..packs {
        let run = qcat_backup::verify::rolling(
            &repo,
            std::time::Duration::from_nanos(1),
            7,
            &progress,
            &cancel,
        )
        .unwrap();
        assert_eq!(run.packs_verified, 1);
        assert!(run.report.is_clean());
        shares.push(run.coverage.share);
        let state = qcat_backup::verify::VerifyState::load(&repo);
        seen.extend(state.packs.keys().cloned());
    }
    // Least recently verified first: six runs visit six different packs, and coverage climbs.
    assert_eq!(
        seen.len(),
        packs,
        "every pack was visited once before any twice"
    );
    assert!(shares.windows(2).all(|w| w[1] > w[0]), "{shares:?}");
    assert!(
        (shares.last().unwrap() - 1.0).abs() < 1e-9,
        "all of the repository was verified: {shares:?}"
    );
}
