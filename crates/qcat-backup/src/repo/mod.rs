//! The backup repository: a folder in the format of docs/backup-format.md.
//!
//! ```text
//! repository.json            format, id, chunker, the repository key wrapped by the master key
//! packs/<2 hex>/<32 hex>     blobs: nonce ‖ AES-256-GCM(zstd(chunk)) ‖ tag, named by no one but manifests
//! backups/<id>.manifest      QCATMF01 ‖ nonce ‖ AES-256-GCM(zstd(manifest JSON)) ‖ tag
//! tmp/                       packs being written; never read
//! lock                       flock: exclusive for backup and expire, shared for verify and restore
//! ```
//!
//! A backup exists exactly when its manifest does, and the manifest is written (synced,
//! renamed, folder synced) only after every pack it names is durable in `packs/`: a crashed
//! or cancelled backup leaves only packs no manifest names, which `collect_garbage` removes.

pub mod crypto;
pub mod manifest;
pub mod pack;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use qcat_secrets::{CipherError, MasterKey};
use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crypto::RepoKeys;
use manifest::{ChunkRef, Manifest};

/// The format this build writes and the newest it reads.
pub const FORMAT: u32 = 1;
const DESCRIPTION: &str = "repository.json";
const MANIFEST_MAGIC: &[u8; 8] = b"QCATMF01";
const MANIFEST_SUFFIX: &str = ".manifest";

/// FastCDC bounds. 64 KiB on average: small enough that a change to a few rows rewrites a
/// few chunks, not megabytes (restic's 1 MiB average re-stores far more of a changed dump),
/// large enough that a 1 GB dump is ~16 000 chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkerParams {
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        Self {
            min_size: 16 * 1024,
            avg_size: 64 * 1024,
            max_size: 256 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Description {
    format: u32,
    id: String,
    created_ms: i64,
    chunker: ChunkerParams,
    compression: String,
    /// The repository keys as an `ENC:v1` value under the master key, bound to
    /// `backup.repository.<id>`.
    key: String,
}

pub struct Repository {
    root: PathBuf,
    description: Description,
    keys: RepoKeys,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("root", &self.root)
            .field("id", &self.description.id)
            .finish_non_exhaustive()
    }
}

fn key_path(id: &str) -> String {
    format!("backup.repository.{id}")
}

impl Repository {
    /// Creates a repository in `root` (missing or empty), its keys wrapped by `master`.
    pub fn init(root: &Path, master: &MasterKey) -> Result<Self> {
        if root.exists() {
            let mut entries = std::fs::read_dir(root).map_err(BackupError::io(root))?;
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty { path: root.into() });
            }
        }
        for dir in ["packs", "backups", "tmp"] {
            let path = root.join(dir);
            qcat_core::private_files::create_dir(&path).map_err(BackupError::io(&path))?;
        }
        qcat_core::private_files::create_dir(root).map_err(BackupError::io(root))?;
        let id = qcat_core::random::hex_id(8);
        let keys = RepoKeys::generate();
        let description = Description {
            format: FORMAT,
            id: id.clone(),
            created_ms: qcat_core::time::now_ms(),
            chunker: ChunkerParams::default(),
            compression: "zstd".into(),
            key: master.encrypt(&key_path(&id), keys.to_text().expose()),
        };
        let path = root.join(DESCRIPTION);
        let text = serde_json::to_vec_pretty(&description).expect("the description serializes");
        qcat_core::atomic_file::write(&path, &text, Some(0o600)).map_err(BackupError::io(&path))?;
        Ok(Self {
            root: root.into(),
            description,
            keys,
        })
    }

    /// Opens the repository in `root` with whichever of `masters` wrapped its key.
    pub fn open(root: &Path, masters: &[MasterKey]) -> Result<Self> {
        let path = root.join(DESCRIPTION);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::NotARepository { path: root.into() });
            }
            Err(err) => return Err(BackupError::io(&path)(err)),
        };
        let bad = |why: String| BackupError::BadDescription {
            path: path.clone(),
            why,
        };
        let raw: serde_json::Value =
            serde_json::from_slice(&text).map_err(|err| bad(format!("not JSON ({err})")))?;
        let found = raw.get("format").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found > FORMAT {
            return Err(BackupError::NewerFormat {
                path: root.into(),
                found,
                supported: FORMAT,
            });
        }
        let description: Description =
            serde_json::from_value(raw).map_err(|err| bad(err.to_string()))?;
        let opened =
            qcat_secrets::cipher::decrypt(masters, &key_path(&description.id), &description.key)
                .map_err(|err| match err {
                    CipherError::WrongKey { value_key, .. } => {
                        BackupError::MissingKey { key_id: value_key }
                    }
                    CipherError::Tampered { .. } | CipherError::NotText { .. } => {
                        BackupError::WrongKey {
                            key_id: qcat_secrets::cipher::key_id_of("", &description.key)
                                .unwrap_or("?")
                                .to_owned(),
                        }
                    }
                    CipherError::Malformed { why, .. } => {
                        bad(format!("the key is malformed ({why})"))
                    }
                })?;
        let keys = RepoKeys::from_text(opened.expose())
            .ok_or_else(|| bad("the unwrapped key is not the repository's key JSON".into()))?;
        Ok(Self {
            root: root.into(),
            description,
            keys,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn id(&self) -> &str {
        &self.description.id
    }

    pub fn chunker(&self) -> ChunkerParams {
        self.description.chunker
    }

    pub(crate) fn keys(&self) -> &RepoKeys {
        &self.keys
    }

    /// The lock a writer holds (backup, expire, garbage collection): one at a time, and no
    /// reader while packs may disappear.
    pub fn lock_exclusive(&self, what: &str) -> Result<RepoLock> {
        RepoLock::take(&self.root, what, true)
    }

    /// The lock readers hold (verify, restore): several at once, never during expire.
    /// Backups take the exclusive lock too, so a reader never sees a pack half written.
    pub fn lock_shared(&self, what: &str) -> Result<RepoLock> {
        RepoLock::take(&self.root, what, false)
    }

    fn manifest_path(&self, id: &str) -> PathBuf {
        self.root
            .join("backups")
            .join(format!("{id}{MANIFEST_SUFFIX}"))
    }

    pub fn pack_path(&self, pack: &str) -> PathBuf {
        self.root.join("packs").join(&pack[..2]).join(pack)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The ids of every published backup.
    pub fn backup_ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("backups");
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(BackupError::io(&dir))? {
            let entry = entry.map_err(BackupError::io(&dir))?;
            let name = entry.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(MANIFEST_SUFFIX))
                && !id.starts_with('.')
            {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Every published backup, oldest first.
    pub fn backups(&self) -> Result<Vec<Manifest>> {
        let mut manifests = self
            .backup_ids()?
            .iter()
            .map(|id| self.manifest(id))
            .collect::<Result<Vec<_>>>()?;
        manifests.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        Ok(manifests)
    }

    pub fn manifest(&self, id: &str) -> Result<Manifest> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(BackupError::UnknownBackup { id: id.into() });
        }
        let path = self.manifest_path(id);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::UnknownBackup { id: id.into() });
            }
            Err(err) => return Err(BackupError::io(&path)(err)),
        };
        let bad = |why: &str| BackupError::BadManifest {
            id: id.into(),
            why: why.into(),
        };
        let body = bytes
            .strip_prefix(MANIFEST_MAGIC.as_slice())
            .ok_or_else(|| bad("not a manifest (wrong magic)"))?;
        let packed = self
            .keys
            .open(manifest_aad(id).as_bytes(), body)
            .map_err(|_| {
                bad("the manifest does not authenticate (altered, or another repository's)")
            })?;
        let json = zstd::decode_all(packed.as_slice()).map_err(|_| bad("not zstd"))?;
        let manifest: Manifest =
            serde_json::from_slice(&json).map_err(|err| bad(&format!("not a manifest ({err})")))?;
        if manifest.format > FORMAT {
            return Err(BackupError::NewerFormat {
                path: path.clone(),
                found: manifest.format,
                supported: FORMAT,
            });
        }
        if manifest.id != id {
            return Err(bad("the manifest names another backup"));
        }
        Ok(manifest)
    }

    /// Makes `manifest` a backup: after this returns, it is listed and restorable.
    pub(crate) fn publish(&self, manifest: &Manifest, _lock: &RepoLock) -> Result<()> {
        let json = serde_json::to_vec(manifest).expect("a manifest serializes");
        let packed = zstd::bulk::compress(&json, 3).map_err(BackupError::io(&self.root))?;
        let mut bytes = MANIFEST_MAGIC.to_vec();
        bytes.extend(
            self.keys
                .seal(manifest_aad(&manifest.id).as_bytes(), &packed),
        );
        let path = self.manifest_path(&manifest.id);
        qcat_core::atomic_file::write(&path, &bytes, Some(0o600)).map_err(BackupError::io(&path))
    }

    /// Removes a backup from the list; its packs stay until `collect_garbage`.
    pub(crate) fn unpublish(&self, id: &str, _lock: &RepoLock) -> Result<()> {
        let path = self.manifest_path(id);
        std::fs::remove_file(&path).map_err(BackupError::io(&path))?;
        sync_dir(&self.root.join("backups"));
        Ok(())
    }

    /// Reads, decrypts, decompresses and checks one chunk.
    pub fn read_chunk(&self, packs: &mut pack::PackFiles, chunk: &ChunkRef) -> Result<Vec<u8>> {
        let blob = packs.read(self, chunk)?;
        self.open_chunk(chunk, &blob)
    }

    pub(crate) fn open_chunk(&self, chunk: &ChunkRef, blob: &[u8]) -> Result<Vec<u8>> {
        let damaged = |why: &str| BackupError::Damaged {
            chunk: chunk.id.to_hex(),
            pack: chunk.pack.clone(),
            why: why.into(),
        };
        let packed = self
            .keys
            .open(&chunk.id.0, blob)
            .map_err(|_| damaged("does not authenticate"))?;
        let plain = zstd::bulk::decompress(&packed, chunk.size as usize)
            .map_err(|_| damaged("does not decompress"))?;
        if plain.len() != chunk.size as usize {
            return Err(damaged("has the wrong length"));
        }
        if self.keys.chunk_id(&plain) != chunk.id {
            return Err(damaged("does not match its hash"));
        }
        Ok(plain)
    }

    /// The packs on disk.
    pub fn pack_names(&self) -> Result<BTreeSet<String>> {
        let dir = self.root.join("packs");
        let mut names = BTreeSet::new();
        for shard in std::fs::read_dir(&dir).map_err(BackupError::io(&dir))? {
            let shard = shard.map_err(BackupError::io(&dir))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&shard).map_err(BackupError::io(&shard))? {
                let entry = entry.map_err(BackupError::io(&shard))?;
                if let Some(name) = entry.file_name().to_str() {
                    names.insert(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    /// Removes packs no backup names and whatever a crashed writer left in `tmp/`.
    pub fn collect_garbage(&self, lock: &RepoLock) -> Result<GarbageReport> {
        assert!(
            lock.exclusive,
            "garbage collection needs the exclusive lock"
        );
        let referenced: BTreeSet<String> = self
            .backups()?
            .iter()
            .flat_map(|manifest| manifest.packs().into_iter().map(str::to_owned))
            .collect();
        let mut report = GarbageReport::default();
        for pack in self.pack_names()? {
            if referenced.contains(&pack) {
                continue;
            }
            let path = self.pack_path(&pack);
            report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path).map_err(BackupError::io(&path))?;
            report.packs += 1;
        }
        let tmp = self.tmp_dir();
        for entry in std::fs::read_dir(&tmp).map_err(BackupError::io(&tmp))? {
            let path = entry.map_err(BackupError::io(&tmp))?.path();
            report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path).map_err(BackupError::io(&path))?;
            report.temporary += 1;
        }
        Ok(report)
    }

    /// Bytes of every pack on disk.
    pub fn stored_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for pack in self.pack_names()? {
            total += std::fs::metadata(self.pack_path(&pack))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        Ok(total)
    }
}

fn manifest_aad(id: &str) -> String {
    format!("manifest:{id}")
}

pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GarbageReport {
    pub packs: u64,
    pub temporary: u64,
    pub bytes: u64,
}

/// A held repository lock (an OS file lock: it ends with the process, so a kill -9 never
/// leaves the repository locked).
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
    exclusive: bool,
}

impl RepoLock {
    fn take(root: &Path, what: &str, exclusive: bool) -> Result<Self> {
        let path = root.join("lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(BackupError::io(&path))?;
        let taken = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        let holder_path = root.join("lock.holder");
        match taken {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = File::open(&holder_path).and_then(|mut f| f.read_to_string(&mut holder));
                return Err(BackupError::Locked {
                    holder: if holder.trim().is_empty() {
                        "another process".into()
                    } else {
                        qcat_core::text::escape_controls(holder.trim()).into_owned()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(BackupError::io(&path)(err)),
        }
        if exclusive {
            let holder = format!(
                "{what} (pid {}, since {})",
                std::process::id(),
                qcat_core::time::now_ms()
            );
            let _ = std::fs::write(&holder_path, holder);
        }
        Ok(Self {
            _file: file,
            exclusive,
        })
    }
}
