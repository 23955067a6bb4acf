//! Zone files on disk: loading (with `$INCLUDE`) and persisting updated zones.
//!
//! This is the one module of the crate besides `net` that touches the file system. An updated
//! zone is written whole to `DATA_DIR/<origin>zone` (temporary file, fsync, rename), so a
//! restart serves the latest version; at load time the newer of the configured file and the
//! persisted copy (by SOA serial) wins.

use crate::update::serial_after;
use crate::zone::Zone;
use dns_proto::Name;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a zone file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The zone has errors (all of them, with lines).
    #[error("{0}")]
    Zone(#[from] dns_proto::zone::ZoneErrors),
    /// No origin was given and none could be found in the file or its name.
    #[error("{0}: cannot tell the zone's origin; give it as ORIGIN=FILE or with $ORIGIN")]
    NoOrigin(PathBuf),
}

impl From<LoadError> for std::io::Error {
    fn from(error: LoadError) -> std::io::Error {
        match error {
            LoadError::Io { source, path } => {
                std::io::Error::new(source.kind(), format!("{}: {source}", path.display()))
            }
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// The origin a zone file declares: its first `$ORIGIN`, else its file name without a `.zone`
/// / `.db` suffix or `db.` prefix (`umass.edu.zone` → `umass.edu.`).
pub fn guess_origin(path: &Path, text: &str) -> Option<Name> {
    for line in text.lines() {
        let line = line.trim_start();
        let mut words = line.split_whitespace();
        if words
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("$ORIGIN"))
        {
            return words.next().and_then(|origin| origin.parse().ok());
        }
    }
    let file = path.file_name()?.to_str()?;
    let stem = file
        .strip_suffix(".zone")
        .or_else(|| file.strip_suffix(".db"))
        .or_else(|| file.strip_prefix("db."))?;
    match stem {
        "root" | "" => Some(Name::root()),
        stem => stem.parse().ok(),
    }
}

/// Loads a zone file; `$INCLUDE` paths are relative to the file's folder.
pub fn load_zone_file(path: &Path, origin: Option<&Name>) -> Result<Zone, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = match origin {
        Some(origin) => origin.clone(),
        None => guess_origin(path, &text).ok_or_else(|| LoadError::NoOrigin(path.to_path_buf()))?,
    };
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut include =
        |name: &str| std::fs::read_to_string(folder.join(name)).map_err(|error| error.to_string());
    Ok(Zone::parse_with_includes(
        &text,
        &origin,
        &path.display().to_string(),
        &mut include,
    )?)
}

/// Where the persisted copy of the zone `origin` lives in `data_dir`.
pub fn persisted_path(data_dir: &Path, origin: &Name) -> PathBuf {
    let name = if origin.is_root() {
        "root.zone".to_string()
    } else {
        // The trailing dot of the name doubles as the separator: `com.zone`.
        let text = origin.to_lowercase().to_string();
        let safe: String = text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{safe}zone")
    };
    data_dir.join(name)
}

/// Writes `zone` to its persisted path atomically (temporary file, fsync, rename).
pub fn persist(data_dir: &Path, zone: &Zone) -> std::io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let path = persisted_path(data_dir, zone.origin());
    let temporary = path.with_extension("zone.tmp");
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(zone.to_text().as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, &path)?;
    if let Ok(folder) = std::fs::File::open(data_dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// The persisted copy of `zone` if one exists in `data_dir` with a newer serial.
pub fn newer_persisted(data_dir: &Path, zone: &Zone) -> Result<Option<Zone>, LoadError> {
    let path = persisted_path(data_dir, zone.origin());
    if !path.exists() {
        return Ok(None);
    }
    let persisted = load_zone_file(&path, Some(zone.origin()))?;
    Ok(serial_after(persisted.serial(), zone.serial()).then_some(persisted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_origins() {
        let path = Path::new("/x/umass.edu.zone");
        assert_eq!(guess_origin(path, ""), Some("umass.edu".parse().unwrap()));
        assert_eq!(
            guess_origin(Path::new("db.com"), ""),
            Some("com".parse().unwrap())
        );
        assert_eq!(guess_origin(Path::new("root.zone"), ""), Some(Name::root()));
        assert_eq!(
            guess_origin(Path::new("whatever"), "; c\n$ORIGIN crepes.fr.\n"),
            Some("crepes.fr".parse().unwrap())
        );
        assert_eq!(guess_origin(Path::new("whatever"), ""), None);
        assert_eq!(
            persisted_path(Path::new("/d"), &"Com".parse().unwrap()),
            PathBuf::from("/d/com.zone")
        );
    }
}
