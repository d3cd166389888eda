//! Program resolution: turn the program a task names into an absolute path
//! before anything is spawned.
//!
//! Two reasons. A clean `NotFound`/`PermissionDenied` naming the program,
//! instead of an `io::Error` from deep in spawn. And speed: the standard
//! library falls back from `posix_spawn` to `fork` + `exec` when it has to
//! search `PATH` itself in some cases (a changed `PATH`, for one); an
//! absolute path always takes the fast path.
//!
//! Results are cached ([`ProgramCache`]): a `stat` costs microseconds, a
//! `PATH` search one per directory, and the same few programs run over and
//! over. A cached path that has since disappeared makes the spawn fail with
//! `ENOENT`, which the process layer reports as `NotFound` and which evicts
//! the entry, so a stale entry never outlives one failed run.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use dashmap::DashMap;

use crate::error::{Error, Result};

/// Entries kept before the cache starts over (tasks naming a fresh script
/// path every time must not grow it without bound).
const CACHE_LIMIT: usize = 1024;

/// Resolved programs by the name the task gave.
#[derive(Debug, Default)]
pub(crate) struct ProgramCache {
    found: DashMap<String, Cached>,
}

#[derive(Debug)]
struct Cached {
    /// What the resolution depended on: the `PATH` searched (bare names)
    /// or the directory joined (relative paths).
    basis: Basis,
    path: PathBuf,
}

#[derive(Debug, PartialEq)]
enum Basis {
    Absolute,
    Relative(Option<PathBuf>),
    /// The `PATH` searched, and the directory its relative entries are
    /// relative to.
    Searched(OsString, Option<PathBuf>),
}

impl ProgramCache {
    /// [`resolve`], cached.
    pub(crate) fn resolve(
        &self,
        program: &str,
        path: Option<&OsStr>,
        dir: Option<&Path>,
    ) -> Result<PathBuf> {
        let basis = if !has_separator(program) {
            Basis::Searched(
                path.map(OsStr::to_os_string)
                    .or_else(|| std::env::var_os("PATH"))
                    .unwrap_or_default(),
                dir.map(Path::to_path_buf),
            )
        } else if Path::new(program).is_absolute() {
            Basis::Absolute
        } else {
            Basis::Relative(dir.map(Path::to_path_buf))
        };
        if let Some(hit) = self.found.get(program)
            && hit.basis == basis
        {
            return Ok(hit.path.clone());
        }
        let search = match &basis {
            Basis::Searched(p, _) => Some(p.as_os_str()),
            _ => None,
        };
        let resolved = resolve(program, search, dir)?;
        if self.found.len() >= CACHE_LIMIT {
            self.found.clear();
        }
        self.found.insert(
            program.to_string(),
            Cached {
                basis,
                path: resolved.clone(),
            },
        );
        Ok(resolved)
    }

    /// Drop what is known about `program` (its spawn just failed).
    pub(crate) fn forget(&self, program: &str) {
        self.found.remove(program);
    }
}

/// Resolve `program` the way a shell started in the child's working
/// directory would: a name with a path separator is taken as a path
/// (relative to `dir` when given, else to our working directory); a bare
/// name is searched on `path` (the task's `PATH`, else ours), relative
/// entries of which (`.`, `bin`) are relative to that directory too.
///
/// The result is always absolute: a relative one would be looked up again
/// by the child from *its* working directory, which is `dir` (`./run.sh`
/// with `current_dir("sub")` is `sub/run.sh` here, not `sub/sub/run.sh`).
pub(crate) fn resolve(program: &str, path: Option<&OsStr>, dir: Option<&Path>) -> Result<PathBuf> {
    if has_separator(program) {
        let candidate = Path::new(program);
        let absolute = if candidate.is_absolute() {
            candidate.to_path_buf()
        } else {
            child_dir(dir)?.join(candidate)
        };
        return match check(&absolute) {
            Found::Executable => Ok(absolute),
            Found::NotExecutable => Err(Error::PermissionDenied {
                program: program.to_string(),
            }),
            Found::Missing => Err(Error::NotFound {
                program: program.to_string(),
            }),
        };
    }

    let search = path
        .map(OsStr::to_os_string)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let mut denied = false;
    // Only needed for a relative entry, which is rare.
    let mut cwd = None;
    for entry in std::env::split_paths(&search) {
        // An empty PATH entry means the current directory, as in sh.
        let entry = if entry.is_absolute() {
            entry
        } else {
            let base = match &cwd {
                Some(base) => base,
                None => cwd.insert(child_dir(dir)?),
            };
            base.join(entry)
        };
        for candidate in candidates(&entry, program) {
            match check(&candidate) {
                Found::Executable => return Ok(candidate),
                Found::NotExecutable => denied = true,
                Found::Missing => {}
            }
        }
    }
    let program = program.to_string();
    Err(if denied {
        Error::PermissionDenied { program }
    } else {
        Error::NotFound { program }
    })
}

/// The child's working directory, absolute: `dir` (relative to ours), or
/// ours.
fn child_dir(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) if d.is_absolute() => Ok(d.to_path_buf()),
        _ => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("reading the working directory", e))?;
            Ok(dir.map_or_else(|| cwd.clone(), |d| cwd.join(d)))
        }
    }
}

fn has_separator(program: &str) -> bool {
    program.contains('/') || (cfg!(windows) && program.contains('\\'))
}

enum Found {
    Executable,
    NotExecutable,
    Missing,
}

#[cfg(unix)]
fn candidates(dir: &Path, program: &str) -> impl Iterator<Item = PathBuf> {
    std::iter::once(dir.join(program))
}

#[cfg(windows)]
fn candidates(dir: &Path, program: &str) -> impl Iterator<Item = PathBuf> {
    // Like cmd.exe: a name with an extension is taken as it is, a name
    // without one is tried with the usual executable extensions.
    let exts: &'static [&'static str] = if Path::new(program).extension().is_some() {
        &[""]
    } else {
        &[".exe", ".com", ".cmd", ".bat"]
    };
    let base = dir.join(program);
    exts.iter().map(move |ext| {
        let mut name = base.clone().into_os_string();
        name.push(ext);
        PathBuf::from(name)
    })
}

#[cfg(unix)]
fn check(path: &Path) -> Found {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(_) => Found::Missing,
        // A directory cannot be executed (exec gives EACCES).
        Ok(meta) if meta.is_dir() => Found::NotExecutable,
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => Found::NotExecutable,
        Ok(_) => Found::Executable,
    }
}

#[cfg(windows)]
fn check(path: &Path) -> Found {
    match std::fs::metadata(path) {
        Err(_) => Found::Missing,
        Ok(meta) if meta.is_dir() => Found::NotExecutable,
        Ok(_) => Found::Executable,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cache_follows_the_path_it_searched_and_forgets_on_request() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&a, &b] {
            let exe = dir.path().join("tool");
            std::fs::write(&exe, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let cache = ProgramCache::default();
        let in_a = cache
            .resolve("tool", Some(a.path().as_os_str()), None)
            .unwrap();
        assert_eq!(in_a, a.path().join("tool"));
        let in_b = cache
            .resolve("tool", Some(b.path().as_os_str()), None)
            .unwrap();
        assert_eq!(
            in_b,
            b.path().join("tool"),
            "another PATH is another answer"
        );
        std::fs::remove_file(b.path().join("tool")).unwrap();
        // Still cached until a failed spawn says otherwise...
        assert!(
            cache
                .resolve("tool", Some(b.path().as_os_str()), None)
                .is_ok()
        );
        cache.forget("tool");
        // ...then resolved afresh.
        let err = cache
            .resolve("tool", Some(b.path().as_os_str()), None)
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
    }

    #[test]
    fn absolute_path_is_checked() {
        assert_eq!(
            resolve("/bin/sh", None, None).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = resolve("/definitely/not/here", None, None).unwrap_err();
        assert!(matches!(err, Error::NotFound { program } if program == "/definitely/not/here"));
    }

    #[test]
    fn bare_name_is_searched_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = resolve("tool", Some(dir.path().as_os_str()), None).unwrap();
        assert_eq!(found, exe);
        let err = resolve("tool", Some(OsStr::new("/nonexistent")), None).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
    }

    #[test]
    fn not_executable_is_permission_denied() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.txt");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = resolve(file.to_str().unwrap(), None, None).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }));
        let err = resolve("data.txt", Some(dir.path().as_os_str()), None).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { program } if program == "data.txt"));
        let err = resolve(dir.path().to_str().unwrap(), None, None).unwrap_err();
        assert!(
            matches!(err, Error::PermissionDenied { .. }),
            "a directory is not a program"
        );
    }

    #[test]
    fn relative_path_is_taken_from_the_task_dir() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("run.sh");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve("./run.sh", None, Some(dir.path())).unwrap(),
            dir.path().join("./run.sh")
        );
    }

    #[test]
    fn a_relative_program_in_a_relative_dir_is_found_where_the_child_will_run() {
        // Relative to our working directory, as a task's `current_dir("sub")`.
        let dir = tempfile::tempdir_in(".").unwrap();
        let exe = dir.path().join("run.sh");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let relative = Path::new(dir.path().file_name().unwrap());
        let found = resolve("./run.sh", None, Some(relative)).unwrap();
        assert!(found.is_absolute(), "{}", found.display());
        assert_eq!(
            found,
            std::env::current_dir()
                .unwrap()
                .join(relative)
                .join("./run.sh")
        );
        // A relative PATH entry is relative to the child's directory too.
        let found = resolve("run.sh", Some(OsStr::new(".")), Some(relative)).unwrap();
        assert_eq!(
            found,
            std::env::current_dir()
                .unwrap()
                .join(relative)
                .join(".")
                .join("run.sh")
        );
    }
}
