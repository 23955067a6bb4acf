//! A torrent's files on disk: pieces mapped across the files, blocks written and read at
//! their offsets, and the resume check (every piece already on disk is hashed; those that
//! match are had). Paths come from a parsed `Metainfo`, whose components are checked safe.

use bt_proto::metainfo::Info;
use bt_proto::wire::Bitfield;
use sha1::{Digest, Sha1};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The files of one torrent under a folder.
#[derive(Debug)]
pub struct Storage {
    files: Vec<(File, u64, u64)>,
    piece_length: u64,
    total: u64,
    paths: Vec<PathBuf>,
}

impl Storage {
    /// Opens (creating when `create`) the torrent's files under `dir`: `dir/NAME` for a
    /// single file, `dir/NAME/...` for a folder.
    pub fn open(info: &Info, dir: &Path, create: bool) -> io::Result<Storage> {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        let mut offset = 0;
        for entry in &info.files {
            let mut path = dir.join(&info.name);
            for part in &entry.path {
                path.push(part);
            }
            if create {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
            }
            let file = OpenOptions::new()
                .read(true)
                .write(create)
                .create(create)
                .truncate(false)
                .open(&path)
                .map_err(|error| {
                    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
                })?;
            if create && file.metadata()?.len() != entry.length {
                file.set_len(entry.length)?;
            }
            files.push((file, offset, entry.length));
            paths.push(path);
            offset += entry.length;
        }
        Ok(Storage {
            files,
            piece_length: info.piece_length,
            total: offset,
            paths,
        })
    }

    /// The files' paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn spans(&self, start: u64, len: u64) -> Vec<(usize, u64, u64)> {
        let end = start + len;
        self.files
            .iter()
            .enumerate()
            .filter(|(_, (_, offset, length))| *offset < end && offset + length > start)
            .map(|(index, (_, offset, length))| {
                let from = start.max(*offset);
                let to = end.min(offset + length);
                (index, from - offset, to - from)
            })
            .collect()
    }

    /// Writes `data` at `begin` of piece `index`.
    pub fn write(&mut self, index: u32, begin: u32, data: &[u8]) -> io::Result<()> {
        let start = u64::from(index) * self.piece_length + u64::from(begin);
        if start + data.len() as u64 > self.total {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "block past the end",
            ));
        }
        let mut at = 0usize;
        for (file, offset, len) in self.spans(start, data.len() as u64) {
            let handle = &mut self.files[file].0;
            handle.seek(SeekFrom::Start(offset))?;
            handle.write_all(&data[at..at + len as usize])?;
            at += len as usize;
        }
        Ok(())
    }

    /// Reads `length` bytes at `begin` of piece `index`.
    pub fn read(&mut self, index: u32, begin: u32, length: u32) -> io::Result<Vec<u8>> {
        let start = u64::from(index) * self.piece_length + u64::from(begin);
        if start + u64::from(length) > self.total {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "block past the end",
            ));
        }
        let mut out = vec![0u8; length as usize];
        let mut at = 0usize;
        for (file, offset, len) in self.spans(start, u64::from(length)) {
            let handle = &mut self.files[file].0;
            handle.seek(SeekFrom::Start(offset))?;
            handle.read_exact(&mut out[at..at + len as usize])?;
            at += len as usize;
        }
        Ok(out)
    }

    /// Whether piece `index` on disk has the torrent's hash.
    pub fn verify(&mut self, info: &Info, index: u32) -> io::Result<bool> {
        let size = info.piece_size(index as usize) as u32;
        let bytes = self.read(index, 0, size)?;
        let hash: [u8; 20] = Sha1::digest(&bytes).into();
        Ok(info.pieces.get(index as usize) == Some(&hash))
    }

    /// The resume check: every piece hashed.
    pub fn check(&mut self, info: &Info) -> io::Result<Bitfield> {
        let mut have = Bitfield::new(info.pieces.len());
        for index in 0..info.pieces.len() {
            if self.verify(info, index as u32)? {
                have.set(index);
            }
        }
        Ok(have)
    }
}
