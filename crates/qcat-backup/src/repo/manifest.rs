//! What a backup holds: its place in a chain, its sources, each source's streams and the
//! chunks that make them up, and the checks (row counts, hashes) a restore compares against.
//! Stored as `backups/<id>.manifest`: `QCATMF01 ‖ nonce ‖ AES-GCM(zstd(JSON))`; see
//! docs/backup-format.md.

use serde::{Deserialize, Serialize};

use super::crypto::ChunkId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    /// Shares no chunk with an older backup: survives the loss of every other one.
    Full,
    /// Reuses only its full's chunks (pgBackRest's differential: changes since the last full).
    Diff,
    /// Reuses its parent chain's chunks (changes since the last backup of any type).
    Incr,
}

impl BackupType {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Diff => "diff",
            BackupType::Incr => "incr",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "full" => Some(BackupType::Full),
            "diff" | "differential" => Some(BackupType::Diff),
            "incr" | "incremental" => Some(BackupType::Incr),
            _ => None,
        }
    }
}

/// Where one chunk of a stream is: `[id, pack, offset, stored length, plain length]` on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "ChunkTuple", try_from = "ChunkTuple")]
pub struct ChunkRef {
    pub id: ChunkId,
    pub pack: String,
    pub offset: u64,
    /// Bytes in the pack (nonce, ciphertext, tag).
    pub length: u32,
    /// Bytes of the chunk itself.
    pub size: u32,
}

type ChunkTuple = (String, String, u64, u32, u32);

impl From<ChunkRef> for ChunkTuple {
    fn from(chunk: ChunkRef) -> Self {
        (
            chunk.id.to_hex(),
            chunk.pack,
            chunk.offset,
            chunk.length,
            chunk.size,
        )
    }
}

impl TryFrom<ChunkTuple> for ChunkRef {
    type Error = String;
    fn try_from((id, pack, offset, length, size): ChunkTuple) -> Result<Self, String> {
        let id = ChunkId::from_hex(&id).ok_or_else(|| format!("chunk id {id:?} is not 64 hex"))?;
        if pack.len() != 32 || !pack.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("pack name {pack:?} is not 32 hex"));
        }
        Ok(Self {
            id,
            pack,
            offset,
            length,
            size,
        })
    }
}

/// One byte stream of a source (a pg_dump archive, a Redis command file, a tar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    pub name: String,
    /// `pg_dump-custom`, `redis-resp` or `tar`: what the reassembled bytes are.
    pub format: String,
    /// Bytes in the stream: the sum of its chunks' sizes. (No separate hash: every chunk
    /// is named by its keyed hash and the manifest that orders them is authenticated.)
    pub size: u64,
    pub chunks: Vec<ChunkRef>,
}

/// A table and its row count, counted in the same snapshot the dump read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableCount {
    pub schema: String,
    pub name: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRecord {
    /// The connection profile's name.
    pub name: String,
    /// `postgres`, `redis` or `files`.
    pub kind: String,
    pub environment: String,
    /// Where it was read from, without credentials (shown, never used to connect).
    pub location: String,
    /// The database (PostgreSQL), the db numbers (Redis) or the folder (files).
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub server_version: String,
    #[serde(default)]
    pub tool_version: String,
    /// What consistency the stream has, in words (a snapshot, per key…).
    #[serde(default)]
    pub consistency: String,
    pub streams: Vec<Stream>,
    #[serde(default)]
    pub tables: Vec<TableCount>,
    /// Keys per db (Redis), files (files).
    #[serde(default)]
    pub items: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStats {
    /// Bytes the sources produced.
    pub logical_bytes: u64,
    /// Bytes this backup added to the repository (new blobs).
    pub stored_bytes: u64,
    pub chunks: u64,
    /// Chunks this backup stored (the rest were reused from its chain).
    pub new_chunks: u64,
    pub reused_chunks: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: BackupType,
    /// The backup this one builds on (none for a full).
    pub parent: Option<String>,
    /// The full at the root of this chain (itself for a full).
    pub full: String,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub host: String,
    pub console_version: String,
    pub sources: Vec<SourceRecord>,
    pub stats: BackupStats,
}

impl Manifest {
    pub fn source(&self, name: &str) -> Option<&SourceRecord> {
        self.sources.iter().find(|source| source.name == name)
    }

    /// A source and its stream of `format`, or why a restore of it cannot start: the backup
    /// has no such source (its sources are named), or the source is another kind (`what`).
    pub fn restorable(
        &self,
        source: &str,
        format: &str,
        what: &str,
    ) -> Result<(&SourceRecord, &Stream), crate::BackupError> {
        let record = self
            .source(source)
            .ok_or_else(|| crate::BackupError::Invalid {
                field: "source".into(),
                why: format!(
                    "backup {} has no source {source:?} (it has {})",
                    self.id,
                    self.sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let stream = record
            .streams
            .iter()
            .find(|s| s.format == format)
            .ok_or_else(|| crate::BackupError::Refused(format!("{source} is not {what}")))?;
        Ok((record, stream))
    }

    /// Every chunk the backup needs, once each.
    pub fn chunks(&self) -> impl Iterator<Item = &ChunkRef> {
        self.sources
            .iter()
            .flat_map(|source| source.streams.iter())
            .flat_map(|stream| stream.chunks.iter())
    }

    pub fn packs(&self) -> std::collections::BTreeSet<&str> {
        self.chunks().map(|chunk| chunk.pack.as_str()).collect()
    }
}
