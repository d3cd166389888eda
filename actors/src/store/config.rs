//! Which backend a store uses, as the application names it
//! (`Config::store`, `--store`): a redb file (the default) or a
//! PostgreSQL database by URL (feature `postgres`).

use std::path::{Path, PathBuf};

/// Where the durable store keeps its state.
///
/// A path is the embedded redb file; [`StoreConfig::postgres`] (or a
/// string starting with `postgres://` or `postgresql://`) a PostgreSQL
/// database, which needs the `postgres` feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// The embedded redb database file (created, with its directory, if
    /// missing).
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(PostgresUrl),
}

impl StoreConfig {
    /// The redb file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        StoreConfig::File(path.into())
    }

    /// The PostgreSQL database at `url` (`postgres://user:password@host:port/db`,
    /// or libpq's `host=… user=…` form). Checked when the orchestrator
    /// starts.
    pub fn postgres(url: impl Into<String>) -> Self {
        StoreConfig::Postgres(PostgresUrl(url.into()))
    }

    /// A PostgreSQL URL if `s` starts with `postgres://` or
    /// `postgresql://`, else a file path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            StoreConfig::postgres(s)
        } else {
            StoreConfig::file(s)
        }
    }
}

impl From<PathBuf> for StoreConfig {
    fn from(path: PathBuf) -> Self {
        StoreConfig::File(path)
    }
}

impl From<&PathBuf> for StoreConfig {
    fn from(path: &PathBuf) -> Self {
        StoreConfig::File(path.clone())
    }
}

impl From<&Path> for StoreConfig {
    fn from(path: &Path) -> Self {
        StoreConfig::File(path.to_path_buf())
    }
}

/// See [`StoreConfig::parse`].
impl From<&str> for StoreConfig {
    fn from(s: &str) -> Self {
        StoreConfig::parse(s)
    }
}

/// See [`StoreConfig::parse`].
impl From<String> for StoreConfig {
    fn from(s: String) -> Self {
        StoreConfig::parse(&s)
    }
}

/// See [`StoreConfig::parse`].
impl From<&String> for StoreConfig {
    fn from(s: &String) -> Self {
        StoreConfig::parse(s)
    }
}

/// A PostgreSQL connection URL. Its `Debug` and `Display` hide the
/// password, so a logged configuration does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL as given, password included: for connecting only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", redact(&self.0))
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// `url` with its password replaced by `***`, for messages: a URL's
/// `user:password@`, or a key-value string's `password=...`.
pub(crate) fn redact(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[scheme_end + 3 + at..]
                );
            }
        }
        return url.to_string();
    }
    url.split_whitespace()
        .map(|part| {
            if part.starts_with("password=") {
                "password=***"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_postgres_and_anything_else_a_file_and_no_password_is_shown() {
        assert_eq!(
            StoreConfig::from("/var/lib/x.redb"),
            StoreConfig::file("/var/lib/x.redb")
        );
        let url = "postgresql://me:hunter2@db:5432/app?sslmode=disable";
        let StoreConfig::Postgres(pg) = StoreConfig::from(url) else {
            panic!("a postgres URL")
        };
        assert_eq!(pg.as_str(), url);
        assert_eq!(
            pg.to_string(),
            "postgresql://me:***@db:5432/app?sslmode=disable"
        );
        assert!(!format!("{pg:?}").contains("hunter2"));
        assert_eq!(redact("postgres://me@db/app"), "postgres://me@db/app");
        assert_eq!(
            redact("host=db user=me password=hunter2"),
            "host=db user=me password=***"
        );
    }
}
