//! `ConfigError`: one problem in routes.toml, located by file, line, column and key.
//!
//! Every stage of loading (TOML syntax, schema, interpolation, references, plugin compilation)
//! reports through this type so `switchyard check`, the reload log and the admin API print the
//! same text. It must never carry a secret's value.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a problem is: 1-based line and column, and the dotted key (`routes[2].to`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    pub key: String,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct ConfigError {
    pub path: PathBuf,
    pub location: Option<Location>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: &Path, location: Option<Location>, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), location, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) if l.key.is_empty() => {
                write!(f, "{}:{}:{}: {}", self.path.display(), l.line, l.column, self.message)
            }
            Some(l) => write!(f, "{}:{}:{}: {}: {}", self.path.display(), l.line, l.column, l.key, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Every problem found in one load, in file order. Loading never stops at the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets in a file's text into line, column and the key being defined there.
pub struct SourceMap<'a> {
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// Line and column (1-based, in characters) of a byte offset, clamped to the text.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// A location for a byte span whose key is already known.
    pub fn locate(&self, span: std::ops::Range<usize>, key: impl Into<String>) -> Location {
        let (line, column) = self.line_col(span.start);
        Location { line, column, key: key.into() }
    }

    /// A location for a serde/TOML error span: the key is guessed from the enclosing table
    /// header (`[sources.shop]`, `[[routes]]` counted) and the key written on that line.
    pub fn locate_guessing_key(&self, span: std::ops::Range<usize>) -> Location {
        let (line, column) = self.line_col(span.start);
        Location { line, column, key: self.key_at(line) }
    }

    fn key_at(&self, line: usize) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let here = lines.get(line.saturating_sub(1)).map_or("", |l| l.trim());
        let own_key = here
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.starts_with('['))
            .unwrap_or_default();
        let mut table = String::new();
        for (i, l) in lines.iter().enumerate().take(line).rev() {
            let l = l.trim();
            if let Some(name) = l.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
                let name = name.trim();
                let index = lines[..i]
                    .iter()
                    .filter(|p| {
                        p.trim().strip_prefix("[[").and_then(|p| p.split("]]").next()).map(str::trim) == Some(name)
                    })
                    .count();
                table = format!("{name}[{index}]");
                break;
            }
            if let Some(name) = l.strip_prefix('[').and_then(|l| l.split(']').next()) {
                table = name.trim().to_string();
                break;
            }
        }
        match (table.is_empty(), own_key.is_empty()) {
            (true, _) => own_key,
            (false, true) => table,
            (false, false) => format!("{table}.{own_key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let map = SourceMap::new("a = 1\nbb = 2\n");
        assert_eq!(map.line_col(0), (1, 1));
        assert_eq!(map.line_col(6), (2, 1));
        assert_eq!(map.line_col(9), (2, 4));
    }

    #[test]
    fn key_names_the_table_and_the_key() {
        let text = "[server]\nlisten = 1\n[[routes]]\nname = \"a\"\n[[routes]]\nto = 3\n";
        let map = SourceMap::new(text);
        assert_eq!(map.key_at(2), "server.listen");
        assert_eq!(map.key_at(6), "routes[1].to");
    }

    #[test]
    fn display_reads_like_a_compiler_error() {
        let e = ConfigError::new(
            Path::new("routes.toml"),
            Some(Location { line: 12, column: 9, key: "routes[2].to".into() }),
            "unknown destination `erp2`",
        );
        assert_eq!(e.to_string(), "routes.toml:12:9: routes[2].to: unknown destination `erp2`");
    }
}
