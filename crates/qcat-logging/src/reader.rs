//! Reading logs back for the Logs screen: the files in the log dir, and the lines of one of
//! them (gzipped or not) filtered by level, target and text.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::rotate::{CURRENT_FILE, rotated_files};

/// One file in the log dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub bytes: u64,
    pub compressed: bool,
    pub current: bool,
}

/// One parsed line. `raw` keeps the whole JSON object for the detail view.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub ts: String,
    pub level: String,
    pub target: String,
    pub message: String,
    pub raw: Value,
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Lowest level shown (`trace` … `error`); `None` shows all.
    pub min_level: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// Case-insensitive substring of the whole line.
    pub text: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no log file named {0:?}; pick one from the list of log files")]
    NoSuchFile(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The current file first, then rotated files newest first.
pub fn list_files(dir: &Path) -> Vec<LogFile> {
    let mut files = Vec::new();
    let current = dir.join(CURRENT_FILE);
    if let Ok(metadata) = std::fs::metadata(&current) {
        files.push(LogFile {
            name: CURRENT_FILE.into(),
            bytes: metadata.len(),
            compressed: false,
            current: true,
        });
    }
    for (path, _) in rotated_files(dir) {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push(LogFile {
            bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            compressed: name.ends_with(".gz"),
            current: false,
            name,
        });
    }
    files
}

fn rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "trace" => 0,
        "debug" => 1,
        "info" => 2,
        "warn" => 3,
        _ => 4,
    }
}

/// The last `limit` lines of `file` (a name from [`list_files`]) that pass `filter`, oldest
/// first. Lines that are not JSON are shown as messages of level `info`.
pub fn read_lines(
    dir: &Path,
    file: &str,
    filter: &LogFilter,
    limit: usize,
) -> Result<Vec<LogLine>, ReadError> {
    // Only names from the listing: no path separators, no way out of the log dir.
    if !list_files(dir).iter().any(|known| known.name == file) {
        return Err(ReadError::NoSuchFile(file.to_owned()));
    }
    let path = dir.join(file);
    let io_err = |source| ReadError::Io {
        path: path.clone(),
        source,
    };
    let handle = std::fs::File::open(&path).map_err(io_err)?;
    let reader: Box<dyn Read> = if file.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(handle))
    } else {
        Box::new(handle)
    };
    let min = filter.min_level.as_deref().map(rank).unwrap_or(0);
    let text = filter.text.as_ref().map(|text| text.to_lowercase());
    let mut kept = std::collections::VecDeque::with_capacity(limit.min(10_000));
    for line in BufReader::new(reader).lines() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(text) = &text
            && !line.to_lowercase().contains(text)
        {
            continue;
        }
        let parsed = parse(&line);
        if rank(&parsed.level) < min {
            continue;
        }
        if let Some(target) = &filter.target
            && !parsed.target.contains(target.as_str())
        {
            continue;
        }
        if kept.len() == limit {
            kept.pop_front();
        }
        kept.push_back(parsed);
    }
    Ok(kept.into_iter().collect())
}

fn parse(line: &str) -> LogLine {
    match serde_json::from_str::<Value>(line) {
        Ok(value @ Value::Object(_)) => LogLine {
            ts: value["ts"].as_str().unwrap_or_default().to_owned(),
            level: value["level"]
                .as_str()
                .unwrap_or("INFO")
                .to_ascii_lowercase(),
            target: value["target"].as_str().unwrap_or_default().to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
            raw: value,
        },
        _ => LogLine {
            ts: String::new(),
            level: "info".into(),
            target: String::new(),
            message: line.to_owned(),
            raw: Value::String(line.to_owned()),
        },
    }
}
