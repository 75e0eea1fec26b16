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
        let (default, _) = self
            .leaves
            .get(key)
            .ok_or_else(|| format!("{key} is not a configuration key"))?;
        value_from_text(default, text).map_err(|expected| format!("{key}: expected {expected}"))
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.leaves.contains_key(key)
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
                    .map(|span| line_of(text, span.start))
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
            match self.leaves.get(&key) {
                None => problems.push(self.unknown_key(&key, origin)),
                Some((default, _)) if !same_type(default, value) => problems.push(ConfigProblem {
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
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(err) => {
                problems.push(ConfigProblem {
                    key: "(.env)".into(),
                    origin: Some(Origin {
                        layer: Layer::DotEnv,
                        file: Some(file),
                        line: None,
                        variable: None,
                    }),
                    problem: format!("cannot read: {err}"),
                    fix: "fix the file's permissions or remove it".into(),
                });
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for item in iter {
            match item {
                Ok((name, value)) => {
                    let origin = Origin {
                        layer: Layer::DotEnv,
                        file: Some(file.clone()),
                        line: dotenv_line(&text, &name),
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
        let (default, _) = &self.leaves[&key];
        match value_from_text(default, text) {
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
        self.leaves.contains_key(&key).then_some(key)
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

/// Line of every leaf key in a TOML text, from the parser's spans.
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(document) = toml::de::DeTable::parse(text) {
        collect_lines(document.get_ref(), "", text, &mut lines);
    }
    lines
}

fn collect_lines(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    text: &str,
    lines: &mut BTreeMap<String, usize>,
) {
    for (name, value) in table.iter() {
        let key = if prefix.is_empty() {
            name.get_ref().to_string()
        } else {
            format!("{prefix}.{}", name.get_ref())
        };
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_lines(inner, &key, text, lines),
            _ => {
                lines.insert(key, line_of(text, name.span().start));
            }
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn dotenv_line(text: &str, name: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|index| index + 1)
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
