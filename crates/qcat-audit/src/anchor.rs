//! Anchors: the chain's head, MAC'd with a key the store does not hold, kept outside the
//! store — the way CloudTrail digest files anchor a log.
//!
//! The hash chain alone finds an entry changed, deleted or reordered in the middle, but not
//! the end cut off: delete the newest rows, move `audit_head` back, and what remains is a
//! consistent chain. So the head `(seq, hash)` is published, with an HMAC-SHA256 under a
//! key derived from the master key (keychain or key file, never the store), as one line of
//! `<data dir>/audit-anchors/<installation id>.jsonl` (0600, synced; one file per store, so
//! pointing a data dir at another store raises no false alarm) and one line of the log.
//! Verification
//! then checks the newest anchor that authenticates:
//!
//! - the trail's head is at or past the anchored entry (else the end was cut off);
//! - the anchored entry still has the anchored hash (else the trail was rewritten from
//!   there, even if the chain was recomputed consistently);
//! - every anchor line authenticates (else the anchor file was edited).
//!
//! What it cannot find: changes made after the newest anchor (anchors are written when a
//! console or `qcatctl` run closes and every minute a console runs), and the anchor file
//! deleted together with the rows (then "no anchor" is reported; keep the log lines, or
//! ship them off the machine, to have a copy).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use qcat_store::Store;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::AuditError;

/// The folder name, in the data dir.
pub const DIR_NAME: &str = "audit-anchors";

/// A MAC key for anchors, identified by the master key it was derived from.
#[derive(Clone)]
pub struct AnchorKey {
    pub id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnchorKey({}, <redacted>)", self.id)
    }
}

impl AnchorKey {
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Self {
        Self { id: id.into(), key }
    }

    fn mac(&self, anchor: &Anchor) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(
            format!(
                "qcat-audit-anchor-v1\n{}\n{}\n{}\n{}",
                anchor.seq, anchor.hash, anchor.at_ms, anchor.key_id
            )
            .as_bytes(),
        );
        hex::encode(mac.finalize().into_bytes())
    }
}

/// One published head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub at_ms: i64,
    pub key_id: String,
    pub mac: String,
}

/// What checking the anchors found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnchorCheck {
    /// Lines in the anchor file.
    pub anchors: u64,
    /// The newest anchor that authenticated and was checked against the trail.
    pub checked: Option<Anchor>,
    /// What does not hold, with the entry it concerns.
    pub problem: Option<String>,
}

/// The anchor file of one store in a data dir.
#[derive(Debug, Clone)]
pub struct Anchors {
    path: PathBuf,
}

impl Anchors {
    /// The anchors of `store` kept in `data_dir`.
    pub async fn of(data_dir: &Path, store: &Store) -> Result<Self, AuditError> {
        let id = store
            .installation_id()
            .await
            .map_err(|err| AuditError::Anchor(err.to_string()))?;
        let id: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Ok(Self {
            path: data_dir.join(DIR_NAME).join(format!("{id}.jsonl")),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> std::io::Result<Vec<Result<Anchor, String>>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            lines.push(serde_json::from_str(&line).map_err(|err| err.to_string()));
        }
        Ok(lines)
    }

    /// The newest anchor line, read from the file's end (lines are a few hundred bytes).
    fn last(&self) -> std::io::Result<Option<Anchor>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(4096)))?;
        let mut tail = String::new();
        file.read_to_string(&mut tail)?;
        Ok(tail
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .and_then(|line| serde_json::from_str(line).ok()))
    }

    /// Publishes the chain's head unless it is empty or already the newest anchor.
    pub async fn publish(
        &self,
        store: &Store,
        key: &AnchorKey,
    ) -> Result<Option<Anchor>, AuditError> {
        let (seq, hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(store.pool())
                .await?;
        if seq == 0 {
            return Ok(None);
        }
        // Only the newest line matters here: publishing runs every minute and at every close,
        // and must not read a file that grows by a line a minute.
        if let Some(last) = self.last().map_err(anchor_io)?
            && last.seq == seq
            && last.hash == hash
        {
            return Ok(None);
        }
        let mut anchor = Anchor {
            seq,
            hash,
            at_ms: qcat_core::time::now_ms(),
            key_id: key.id.clone(),
            mac: String::new(),
        };
        anchor.mac = key.mac(&anchor);
        if let Some(dir) = self.path.parent() {
            qcat_core::private_files::create_dir(dir).map_err(anchor_io)?;
        }
        let mut file = qcat_core::private_files::open_append(&self.path).map_err(anchor_io)?;
        let line =
            serde_json::to_string(&anchor).map_err(|err| AuditError::Anchor(err.to_string()))?;
        writeln!(file, "{line}").map_err(anchor_io)?;
        file.sync_all().map_err(anchor_io)?;
        tracing::info!(
            target: "qcat_audit::anchor",
            seq = anchor.seq,
            hash = %anchor.hash,
            mac = %anchor.mac,
            "audit chain anchored"
        );
        Ok(Some(anchor))
    }

    /// Checks the trail in `store` against the newest anchor that authenticates under one
    /// of `keys`; see the module doc.
    pub async fn check(
        &self,
        store: &Store,
        keys: &[AnchorKey],
    ) -> Result<AnchorCheck, AuditError> {
        let lines = self.read().map_err(anchor_io)?;
        let mut check = AnchorCheck {
            anchors: lines.len() as u64,
            ..AnchorCheck::default()
        };
        let mut newest: Option<Anchor> = None;
        for (index, line) in lines.into_iter().enumerate() {
            let number = index + 1;
            let anchor = match line {
                Ok(anchor) => anchor,
                Err(err) => {
                    check.problem.get_or_insert(format!(
                        "line {number} of {} is not an anchor ({err}): the anchor file was edited",
                        self.path.display()
                    ));
                    continue;
                }
            };
            match keys.iter().find(|key| key.id == anchor.key_id) {
                Some(key) if key.mac(&anchor) == anchor.mac => {
                    if newest.as_ref().is_none_or(|seen| anchor.seq >= seen.seq) {
                        newest = Some(anchor);
                    }
                }
                Some(_) => {
                    check.problem.get_or_insert(format!(
                        "anchor line {number} (entry {}) does not authenticate: the anchor file was edited",
                        anchor.seq
                    ));
                }
                None => tracing::warn!(
                    key = %anchor.key_id,
                    line = number,
                    "an audit anchor was made with a master key this console does not have"
                ),
            }
        }
        let Some(anchor) = newest else {
            return Ok(check);
        };
        let (head, _): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(store.pool())
                .await?;
        let when = format_ms(anchor.at_ms);
        if head < anchor.seq {
            check.problem.get_or_insert(format!(
                "the trail ends at entry {head}, but entry {} was anchored at {when}: entries {} to {} were cut off",
                anchor.seq,
                head + 1,
                anchor.seq
            ));
        } else {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = $1")
                    .bind(anchor.seq)
                    .fetch_optional(store.pool())
                    .await?;
            let pruned: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints")
                .fetch_one(store.pool())
                .await?;
            match stored {
                Some(hash) if hash == anchor.hash => {}
                Some(_) => {
                    check.problem.get_or_insert(format!(
                        "entry {} is not the one anchored at {when}: the trail was rewritten from there on",
                        anchor.seq
                    ));
                }
                None if pruned.is_some_and(|pruned| pruned >= anchor.seq) => {}
                None => {
                    check.problem.get_or_insert(format!(
                        "entry {}, anchored at {when}, is missing from the trail",
                        anchor.seq
                    ));
                }
            }
        }
        check.checked = Some(anchor);
        Ok(check)
    }
}

fn anchor_io(err: std::io::Error) -> AuditError {
    AuditError::Anchor(err.to_string())
}

fn format_ms(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .map(|ms| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
            )
            .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}
