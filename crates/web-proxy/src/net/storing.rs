//! Storing a response body as it streams: in memory, moved to a disk record (on the blocking
//! pool) once it outgrows a small body, committed to the index when complete; and the new
//! object after a 304.

use super::{Shared, READ_CHUNK};
use crate::disk::{RecordWriter, SMALL_BODY};
use crate::forward::stored_fields_block;
use crate::store::{Object, StoredBody};
use http_cache::Entry;
use std::io;
use std::sync::Arc;

/// Where a response body goes besides the client: nowhere, memory, or a disk record.
pub(super) enum Sink {
    Off,
    Memory(Vec<u8>),
    Disk { writer: RecordWriter, head: Vec<u8> },
}

pub(super) struct Storing {
    pub(super) id: u64,
    pub(super) entry: Entry,
    pub(super) sink: Sink,
    pub(super) limit: u64,
}

impl Storing {
    pub(super) async fn feed(&mut self, shared: &Shared, data: &[u8]) {
        let received = match &self.sink {
            Sink::Off => return,
            Sink::Memory(buffer) => buffer.len() as u64,
            Sink::Disk { writer, head } => writer.body_len() + head.len() as u64,
        };
        if received + data.len() as u64 > self.limit {
            self.abandon();
            return;
        }
        match &mut self.sink {
            Sink::Off => {}
            Sink::Memory(buffer) => {
                buffer.extend_from_slice(data);
                if buffer.len() as u64 > SMALL_BODY {
                    if let Some(disk) = shared.disk.clone() {
                        let pending = std::mem::take(buffer);
                        let id = self.id;
                        let meta = self.entry.meta.clone();
                        let begun =
                            tokio::task::spawn_blocking(move || -> io::Result<RecordWriter> {
                                let mut writer = disk.begin(id, &meta)?;
                                writer.write(&pending)?;
                                Ok(writer)
                            })
                            .await;
                        self.sink = match begun {
                            Ok(Ok(writer)) => Sink::Disk {
                                writer,
                                head: Vec::new(),
                            },
                            _ => Sink::Off,
                        };
                    }
                }
            }
            Sink::Disk { head, .. } => {
                // Batch small pieces so each blocking write moves a useful amount.
                head.extend_from_slice(data);
                if head.len() >= READ_CHUNK {
                    self.flush().await;
                }
            }
        }
    }

    async fn flush(&mut self) {
        if !matches!(self.sink, Sink::Disk { .. }) {
            return;
        }
        let Sink::Disk { writer, head } = std::mem::replace(&mut self.sink, Sink::Off) else {
            return;
        };
        let mut writer = writer;
        let pending = head;
        let result = tokio::task::spawn_blocking(move || -> (RecordWriter, io::Result<()>) {
            let result = writer.write(&pending);
            (writer, result)
        })
        .await;
        if let Ok((writer, Ok(()))) = result {
            self.sink = Sink::Disk {
                writer,
                head: Vec::new(),
            };
        } else if let Ok((writer, Err(_))) = result {
            writer.abort();
        }
    }

    pub(super) fn abandon(&mut self) {
        if let Sink::Disk { writer, .. } = std::mem::replace(&mut self.sink, Sink::Off) {
            tokio::task::spawn_blocking(move || writer.abort());
        }
    }

    /// Completes the object and puts it in the store.
    pub(super) async fn commit(mut self, shared: &Shared, body_len: u64) {
        self.flush().await;
        self.entry.meta.body_len = body_len;
        let body = match std::mem::replace(&mut self.sink, Sink::Off) {
            Sink::Off => return,
            Sink::Memory(buffer) => {
                if buffer.len() as u64 != body_len {
                    return;
                }
                let memory: Arc<[u8]> = Arc::from(buffer);
                let mut disk_id = None;
                if let Some(disk) = shared.disk.clone() {
                    let meta = self.entry.meta.clone();
                    let id = self.id;
                    let copy = memory.clone();
                    let written =
                        tokio::task::spawn_blocking(move || disk.write(id, &meta, &copy)).await;
                    if matches!(written, Ok(Ok(()))) {
                        disk_id = Some(id);
                    }
                }
                StoredBody {
                    memory: Some(memory),
                    disk: disk_id,
                }
            }
            Sink::Disk { writer, .. } => {
                if writer.body_len() != body_len {
                    writer.abort();
                    return;
                }
                let meta = self.entry.meta.clone();
                let finished = tokio::task::spawn_blocking(move || writer.finish(&meta)).await;
                if !matches!(finished, Ok(Ok(()))) {
                    return;
                }
                StoredBody {
                    memory: None,
                    disk: Some(self.id),
                }
            }
        };
        let fields_block = Arc::from(stored_fields_block(&self.entry, shared.via()));
        let object = Object {
            id: self.id,
            entry: self.entry,
            body,
            fields_block,
        };
        let removed = shared.store().insert(object);
        shared.forget(removed);
    }
}

/// After a 304 freshened `entry`: a new object with the same body (a new disk record when the
/// body is on disk) replaces the old one.
pub(super) async fn refresh_object(
    shared: &Shared,
    old: &Arc<Object>,
    entry: Entry,
) -> Arc<Object> {
    let id = shared.store().allocate_id();
    let mut body = old.body.clone();
    if let (Some(disk), Some(old_id)) = (shared.disk.clone(), old.body.disk) {
        let meta = entry.meta.clone();
        let rewritten = tokio::task::spawn_blocking(move || disk.rewrite(old_id, id, &meta)).await;
        body.disk = matches!(rewritten, Ok(Ok(()))).then_some(id);
    }
    let fields_block = Arc::from(stored_fields_block(&entry, shared.via()));
    let object = Object {
        id,
        entry,
        body,
        fields_block,
    };
    let keep = Arc::new(object.clone());
    if object.body.memory.is_some() || object.body.disk.is_some() {
        let removed = shared.store().insert(object);
        shared.forget(removed);
    }
    keep
}
