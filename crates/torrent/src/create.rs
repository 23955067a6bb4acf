//! Making a `.torrent` from a file or a folder: the folder's regular files in byte order of
//! their paths (symbolic links and special files are left out, so a torrent never reaches
//! outside the folder), read in 1 MiB chunks and hashed in order.

use bt_proto::build::{default_piece_length, BuildError, Extras, TorrentBuilder};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What goes into the torrent besides the files.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Tracker tiers (BEP 12).
    pub trackers: Vec<Vec<String>>,
    /// The piece length (default: [`default_piece_length`] of the total).
    pub piece_length: Option<u64>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date` (seconds since the epoch).
    pub creation_date: Option<i64>,
    /// The BEP 27 private flag.
    pub private: bool,
    /// BEP 19 web seeds.
    pub web_seeds: Vec<String>,
}

/// Why a torrent could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Reading the files failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A file or folder name that is not UTF-8.
    #[error("{0}: the name is not UTF-8")]
    Name(PathBuf),
    /// A file changed size while it was read.
    #[error("{0}: changed while being read")]
    Changed(PathBuf),
    /// The files make no valid torrent (empty, unsafe names, bad piece length).
    #[error(transparent)]
    Build(#[from] BuildError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CreateError + '_ {
    move |error| CreateError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn name_of(path: &Path) -> Result<String, CreateError> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_string)
        .ok_or_else(|| CreateError::Name(path.to_path_buf()))
}

/// The regular files under `dir`, as (path components below `dir`, full path, length),
/// sorted by their components.
fn walk(
    dir: &Path,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<(), CreateError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        let mut components = prefix.to_vec();
        components.push(name_of(&path)?);
        if kind.is_dir() {
            walk(&path, &components, out)?;
        } else if kind.is_file() {
            let length = entry.metadata().map_err(io(&path))?.len();
            out.push((components, path, length));
        }
    }
    Ok(())
}

/// Makes the `.torrent` for `path` (a file, or a folder of files).
pub fn create(path: &Path, options: &CreateOptions) -> Result<Vec<u8>, CreateError> {
    let name = name_of(&fs::canonicalize(path).map_err(io(path))?)?;
    let metadata = fs::metadata(path).map_err(io(path))?;
    let mut files = Vec::new();
    if metadata.is_dir() {
        walk(path, &[], &mut files)?;
    } else {
        files.push((Vec::new(), path.to_path_buf(), metadata.len()));
    }
    let layout: Vec<(Vec<String>, u64)> = files
        .iter()
        .map(|(components, _, length)| (components.clone(), *length))
        .collect();
    let total: u64 = layout.iter().map(|(_, length)| length).sum();
    let piece_length = options
        .piece_length
        .unwrap_or_else(|| default_piece_length(total));
    let mut builder = TorrentBuilder::new(&name, &layout, piece_length)?;
    let mut chunk = vec![0u8; 1 << 20];
    for (_, file, length) in &files {
        let mut reader = fs::File::open(file).map_err(io(file))?;
        let mut read_total = 0u64;
        loop {
            let n = reader.read(&mut chunk).map_err(io(file))?;
            if n == 0 {
                break;
            }
            read_total += n as u64;
            if read_total > *length {
                return Err(CreateError::Changed(file.clone()));
            }
            builder.feed(&chunk[..n]);
        }
        if read_total != *length {
            return Err(CreateError::Changed(file.clone()));
        }
    }
    let extras = Extras {
        trackers: options.trackers.clone(),
        comment: options.comment.clone(),
        created_by: options.created_by.clone(),
        creation_date: options.creation_date,
        private: options.private,
        web_seeds: options.web_seeds.clone(),
    };
    Ok(builder.finish(&extras)?)
}
