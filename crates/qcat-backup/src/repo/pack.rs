//! Pack files: blobs one after another behind an 8-byte magic. Only manifests know where a
//! blob starts, so a pack needs no index of its own. A pack is written in `tmp/`, synced and
//! renamed into `packs/` when it reaches `PACK_TARGET`; a pack belongs to the backup that
//! wrote it, so packs are deleted whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::Repository;
use super::manifest::ChunkRef;
use crate::error::{BackupError, Result};

pub const PACK_MAGIC: &[u8; 8] = b"QCATPK01";
/// About 32 MiB per pack: few files, and a cancelled backup loses little.
pub const PACK_TARGET: u64 = 32 * 1024 * 1024;

/// The pack being filled.
pub struct PackWriter {
    name: String,
    tmp_path: PathBuf,
    file: std::io::BufWriter<File>,
    written: u64,
}

impl PackWriter {
    pub fn create(repo: &Repository) -> Result<Self> {
        let name = qcat_core::random::hex_id(16);
        let tmp_path = repo.tmp_dir().join(format!("{name}.pack"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(BackupError::io(&tmp_path))?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
        file.write_all(PACK_MAGIC)
            .map_err(BackupError::io(&tmp_path))?;
        Ok(Self {
            name,
            tmp_path,
            file,
            written: PACK_MAGIC.len() as u64,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written <= PACK_MAGIC.len() as u64
    }

    /// Appends a sealed blob; returns its offset.
    pub fn append(&mut self, blob: &[u8]) -> Result<u64> {
        let offset = self.written;
        self.file
            .write_all(blob)
            .map_err(BackupError::io(&self.tmp_path))?;
        self.written += blob.len() as u64;
        Ok(offset)
    }

    /// Syncs the pack and moves it into `packs/`: from here on a manifest may name it.
    pub fn finish(self, repo: &Repository) -> Result<()> {
        let file = self
            .file
            .into_inner()
            .map_err(|err| BackupError::io(&self.tmp_path)(err.into_error()))?;
        file.sync_all().map_err(BackupError::io(&self.tmp_path))?;
        drop(file);
        let target = repo.pack_path(&self.name);
        let shard = target.parent().expect("packs live in a shard folder");
        qcat_core::private_files::create_dir(shard).map_err(BackupError::io(shard))?;
        std::fs::rename(&self.tmp_path, &target).map_err(BackupError::io(&target))?;
        super::sync_dir(shard);
        Ok(())
    }

    /// Drops an unfinished pack (a cancelled or failed backup).
    pub fn abandon(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}

/// Open pack files, kept while a restore or verify reads through them.
#[derive(Default)]
pub struct PackFiles {
    open: HashMap<String, File>,
}

impl PackFiles {
    pub fn read(&mut self, repo: &Repository, chunk: &ChunkRef) -> Result<Vec<u8>> {
        let damaged = |why: String| BackupError::Damaged {
            chunk: chunk.id.to_hex(),
            pack: chunk.pack.clone(),
            why,
        };
        if !self.open.contains_key(&chunk.pack) {
            if self.open.len() >= 64 {
                self.open.clear();
            }
            let path = repo.pack_path(&chunk.pack);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(damaged("its pack is missing".into()));
                }
                Err(err) => return Err(BackupError::io(&path)(err)),
            };
            self.open.insert(chunk.pack.clone(), file);
        }
        let file = self.open.get_mut(&chunk.pack).expect("opened above");
        let mut blob = vec![0_u8; chunk.length as usize];
        file.seek(SeekFrom::Start(chunk.offset))
            .and_then(|_| file.read_exact(&mut blob))
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::UnexpectedEof => damaged("its pack is cut short".into()),
                _ => damaged(format!("cannot be read: {err}")),
            })?;
        Ok(blob)
    }
}
