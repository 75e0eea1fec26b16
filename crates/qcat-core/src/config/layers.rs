//! Reading each layer into `(key, value, origin)` entries checked against the schema (the
//! shipped defaults): a layer may only set keys that exist there, with the same type.

use std::collections::BTreeMap;
use std::path::Path;

use super::{ConfigProblem, DEFAULT_TOML, PROCESS_VARIABLES};

/// Which layer a value came from, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Defaults,
    File,
    DotEnv,
    Environment,
}

/// Where exactly a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub layer: Layer,
    /// The file, for the defaults, file and .env layers.
    pub file: Option<String>,
    /// 1-based line in that file.
    pub line: Option<usize>,
    /// The environment variable, for the .env and environment layers.
    pub variable: Option<String>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layer = match self.layer {
            Layer::Defaults => "defaults",
            Layer::File => "config file",
            Layer::DotEnv => ".env",
            Layer::Environment => "environment variable",
        };
        f.write_str(layer)?;
        if let Some(variable) = &self.variable {
            write!(f, " {variable}")?;
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " at {file}:{line}"),
            (Some(file), None) => write!(f, " at {file}"),
            _ => Ok(()),
        }
    }
}

pub(crate) struct Entry {
    pub key: String,
    pub value: toml::Value,
    pub origin: Origin,
}

/// The schema: every leaf key of the defaults with its default value and line.
pub(crate) struct Schema {
    leaves: BTreeMap<String, (toml::Value, Option<usize>)>,
    sections: Vec<String>,
}

/// The keys a monitoring target defined in the config file may set.
pub const TARGET_FIELDS: [&str; 6] = [
    "kind",
    "url",
    "password",
    "environment",
    "interval",
    "timeout",
];

impl Schema {
    pub fn from_defaults() -> Self {
        let table: toml::Table = DEFAULT_TOML
            .parse()
            .expect("the embedded default config is valid TOML");
        let lines = key_lines(DEFAULT_TOML);
        let mut leaves = BTreeMap::new();
        flatten(&table, "", &mut |key, value| {
            let line = lines.get(&key).copied();
            leaves.insert(key, (value.clone(), line));
        });
        let sections = table.keys().cloned().collect();
        Self { leaves, sections }
    }

    pub fn parse_for_key(&self, key: &str, text: &str) -> Result<toml::Value, String> {
        let default = self
            .default_for(key)
            .ok_or_else(|| format!("{key} is not a configuration key"))?;
        value_from_text(&default, text).map_err(|expected| format!("{key}: expected {expected}"))
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.default_for(key).is_some()
    }

    /// The default (and so the type) of `key`: a leaf of the shipped defaults, or a key of
    /// a monitoring target defined in the config file, `monitoring.targets.<name>.<field>`
    /// (kind, url, password, environment, interval, timeout; `queries.<series>`), all text.
    pub fn default_for(&self, key: &str) -> Option<toml::Value> {
        if let Some((value, _)) = self.leaves.get(key) {
            return Some(value.clone());
        }
        let rest = key.strip_prefix("monitoring.targets.")?;
        let (name, field) = rest.split_once('.')?;
        let valid_name = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let valid_field = TARGET_FIELDS.contains(&field)
            || field
                .strip_prefix("queries.")
                .is_some_and(|series| !series.is_empty() && !series.contains('.'));
        (valid_name && valid_field).then(|| toml::Value::String(String::new()))
    }

    pub fn default_entries(&self) -> Vec<Entry> {
        self.leaves
            .iter()
            .map(|(key, (value, line))| Entry {
                key: key.clone(),
                value: value.clone(),
                origin: Origin {
                    layer: Layer::Defaults,
                    file: Some("config/default.toml".into()),
                    line: *line,
                    variable: None,
                },
            })
            .collect()
    }

    /// The keys of a TOML config file; unknown keys and wrong types are problems.
    pub fn file_entries(
        &self,
        path: &Path,
        text: &str,
        problems: &mut Vec<ConfigProblem>,
    ) -> Vec<Entry> {
        let file = path.display().to_string();
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(err) => {
                let line = err
                    .span()
                    .map(|span| LineIndex::new(text).line_of(span.start))
                    .unwrap_or(1);
                problems.push(ConfigProblem {
                    key: "(file)".into(),
                    origin: Some(Origin {
                        layer: Layer::File,
                        file: Some(file),
                        line: Some(line),
                        variable: None,
                    }),
                    problem: format!("not valid TOML: {}", err.message()),
                    fix: "correct the syntax at that line".into(),
                });
                return Vec::new();
            }
        };
        let lines = key_lines(text);
        let mut entries = Vec::new();
        flatten(&table, "", &mut |key, value| {
            let origin = Origin {
                layer: Layer::File,
                file: Some(file.clone()),
                line: lines.get(&key).copied(),
                variable: None,
            };
            match self.default_for(&key).as_ref() {
                None => problems.push(self.unknown_key(&key, origin)),
                Some(default) if !same_type(default, value) => problems.push(ConfigProblem {
                    key: key.clone(),
                    origin: Some(origin),
                    problem: format!(
                        "expected {}, got {}",
                        describe_type(default),
                        describe_type(value)
                    ),
                    fix: format!("write it like the default: {key} = {default}"),
                }),
                Some(_) => entries.push(Entry {
                    key,
                    value: value.clone(),
                    origin,
                }),
            }
        });
        entries
    }

    /// `QCAT_` variables from a `.env` file (other variables are for other tools).
    pub fn dotenv_entries(&self, path: &Path, problems: &mut Vec<ConfigProblem>) -> Vec<Entry> {
        let file = path.display().to_string();
        let text = match read_config_text(path) {
            Ok(text) => text,
            Err(problem) => {
                problems.push(ConfigProblem {
                    key: "(.env)".into(),
                    origin: Some(Origin {
                        layer: Layer::DotEnv,
                        file: Some(file),
                        line: None,
                        variable: None,
                    }),
                    problem: problem.problem,
                    fix: problem.fix,
                });
                return Vec::new();
            }
        };
        let lines = dotenv_lines(&text);
        let mut entries = Vec::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((name, value)) => {
                    let origin = Origin {
                        layer: Layer::DotEnv,
                        file: Some(file.clone()),
                        line: lines.get(name.as_str()).copied(),
                        variable: Some(name.clone()),
                    };
                    entries.extend(self.variable_entry(&name, &value, origin, problems));
                }
                Err(err) => problems.push(ConfigProblem {
                    key: "(.env)".into(),
                    origin: Some(Origin {
                        layer: Layer::DotEnv,
                        file: Some(file.clone()),
                        line: None,
                        variable: None,
                    }),
                    problem: format!("cannot parse: {err}"),
                    fix: "write one NAME=value per line".into(),
                }),
            }
        }
        entries
    }

    pub fn environment_entries(
        &self,
        vars: &[(String, String)],
        problems: &mut Vec<ConfigProblem>,
    ) -> Vec<Entry> {
        let mut sorted: Vec<&(String, String)> = vars.iter().collect();
        sorted.sort();
        let mut entries = Vec::new();
        for (name, value) in sorted {
            let origin = Origin {
                layer: Layer::Environment,
                file: None,
                line: None,
                variable: Some(name.clone()),
            };
            entries.extend(self.variable_entry(name, value, origin, problems));
        }
        entries
    }

    /// Maps one `QCAT_` variable to a key and a typed value; other variables are ignored.
    fn variable_entry(
        &self,
        name: &str,
        text: &str,
        origin: Origin,
        problems: &mut Vec<ConfigProblem>,
    ) -> Option<Entry> {
        let rest = name.strip_prefix("QCAT_")?;
        if PROCESS_VARIABLES.contains(&name) {
            return None;
        }
        let Some(key) = self.key_for_variable(rest) else {
            problems.push(ConfigProblem {
                key: name.to_owned(),
                origin: Some(origin),
                problem: "this QCAT_ variable names no configuration key".into(),
                fix: "check its spelling against config/default.toml (QCAT_SECTION__KEY or QCAT_SECTION_KEY) or unset it".into(),
            });
            return None;
        };
        let default = self.default_for(&key)?;
        match value_from_text(&default, text) {
            Ok(value) => Some(Entry { key, value, origin }),
            Err(expected) => {
                problems.push(ConfigProblem {
                    key: key.clone(),
                    origin: Some(origin),
                    problem: format!("expected {expected}, got {:?}", shorten(text)),
                    fix: format!("set {name} to {expected}"),
                });
                None
            }
        }
    }

    /// `DATABASE__URL` (`__` at any depth) or the seed's `DATABASE_URL` (first word is the
    /// section, the rest the key).
    fn key_for_variable(&self, rest: &str) -> Option<String> {
        let lower = rest.to_ascii_lowercase();
        let key = if lower.contains("__") {
            lower.replace("__", ".")
        } else {
            let (section, key) = lower.split_once('_')?;
            format!("{section}.{key}")
        };
        self.default_for(&key).is_some().then_some(key)
    }

    fn unknown_key(&self, key: &str, origin: Origin) -> ConfigProblem {
        let section = key.split('.').next().unwrap_or(key);
        let fix = if self.sections.iter().any(|known| known == section) {
            let keys: Vec<&str> = self
                .leaves
                .keys()
                .filter(|known| known.starts_with(&format!("{section}.")))
                .map(String::as_str)
                .collect();
            format!("remove it, or use one of: {}", keys.join(", "))
        } else {
            format!("remove it; the sections are: {}", self.sections.join(", "))
        };
        ConfigProblem {
            key: key.to_owned(),
            origin: Some(origin),
            problem: "unknown key".into(),
            fix,
        }
    }
}

/// Calls `visit` with every leaf (non-table value) as a dotted key.
fn flatten(table: &toml::Table, prefix: &str, visit: &mut dyn FnMut(String, &toml::Value)) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(inner, &key, visit),
            leaf => visit(key, leaf),
        }
    }
}

/// Sets `key` (dotted) in `table`, creating intermediate tables.
pub(crate) fn insert_path(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("keys are never empty");
    let mut node = table;
    for part in parts {
        node = node
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("schema keys never collide with leaves");
    }
    node.insert(last.to_owned(), value);
}

/// The largest config or `.env` file read: far beyond any real configuration, small enough
/// that a wrong path (a log, a disk image, `/dev/zero`) fails at once instead of filling
/// memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a config file could not be read, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    pub not_found: bool,
    pub problem: String,
    pub fix: String,
}

/// The text of a config file: a regular file (a FIFO would block, a device never end) of
/// at most [`MAX_CONFIG_BYTES`], in UTF-8.
pub fn read_config_text(path: &Path) -> Result<String, ReadProblem> {
    use std::io::Read;
    let shown = path.display();
    let problem = |problem: String, fix: &str| ReadProblem {
        not_found: false,
        problem,
        fix: fix.to_owned(),
    };
    let meta = std::fs::metadata(path).map_err(|err| ReadProblem {
        not_found: err.kind() == std::io::ErrorKind::NotFound,
        problem: format!("cannot read {shown}: {err}"),
        fix: "create the file or point at an existing one, and check its permissions".into(),
    })?;
    if !meta.is_file() {
        return Err(problem(
            format!("{shown} is not a regular file"),
            "point at a TOML file (not a folder, pipe or device)",
        ));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(problem(
            format!(
                "{shown} is {} bytes, more than the {MAX_CONFIG_BYTES} bytes a config file may have",
                meta.len()
            ),
            "point at the console's config file; it holds a few kilobytes",
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| {
            problem(
                format!("cannot read {shown}: {err}"),
                "check its permissions",
            )
        })?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(problem(
            format!("{shown} grew past {MAX_CONFIG_BYTES} bytes while it was read"),
            "point at the console's config file",
        ));
    }
    String::from_utf8(bytes).map_err(|err| {
        let at = err.utf8_error().valid_up_to();
        let line = bytes_line(err.as_bytes(), at);
        problem(
            format!("{shown} is not valid UTF-8 (line {line}, byte {at})"),
            "save the file as UTF-8",
        )
    })
}

fn bytes_line(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

/// Byte offset → line number, in O(log n) per lookup (counting newlines from the start for
/// every key made large files quadratic).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }
}

/// Line of every leaf key in a TOML text, from the parser's spans.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(document) = toml::de::DeTable::parse(text) {
        collect_lines(document.get_ref(), "", &LineIndex::new(text), &mut lines);
    }
    lines
}

fn collect_lines(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    index: &LineIndex,
    lines: &mut BTreeMap<String, usize>,
) {
    for (name, value) in table.iter() {
        let key = if prefix.is_empty() {
            name.get_ref().to_string()
        } else {
            format!("{prefix}.{}", name.get_ref())
        };
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_lines(inner, &key, index, lines),
            _ => {
                lines.insert(key, index.line_of(name.span().start));
            }
        }
    }
}

/// The line each variable of a `.env` text is set on (the last one wins, as in dotenvy).
fn dotenv_lines(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut lines = std::collections::HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        if let Some((name, _)) = line.split_once('=') {
            lines.insert(name.trim_end(), index + 1);
        }
    }
    lines
}

fn same_type(default: &toml::Value, value: &toml::Value) -> bool {
    std::mem::discriminant(default) == std::mem::discriminant(value)
        || (default.is_float() && value.is_integer())
}

fn describe_type(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "a whole number",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// Parses an environment value as the type of the key's default; the error says what was
/// expected.
fn value_from_text(default: &toml::Value, text: &str) -> Result<toml::Value, &'static str> {
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(text.to_owned()),
        toml::Value::Integer(_) => {
            toml::Value::Integer(text.trim().parse().map_err(|_| "a whole number")?)
        }
        toml::Value::Float(_) => toml::Value::Float(text.trim().parse().map_err(|_| "a number")?),
        toml::Value::Boolean(_) => toml::Value::Boolean(match text.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("true or false"),
        }),
        toml::Value::Array(_) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err("a value set in the config file, not the environment");
        }
    })
}

/// Values in messages are cut short so a secret pasted into the wrong variable is not echoed.
fn shorten(text: &str) -> String {
    if text.chars().count() <= 3 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(3).collect::<String>())
    }
}
