//! `MonitorService.Backup`: a consistent copy of the store, streamed to the caller.
//!
//! One backup runs at a time (a second is refused with FAILED_PRECONDITION while the first
//! streams). The copy is made by the store's commit thread between two groups (so it holds every
//! change acknowledged before the call) into a file of its own in the data directory, then
//! read back in chunks. The file is removed when the stream ends, however it ends; one left
//! by a coordinator that died mid-stream is removed at the next start ([`remove_leftovers`]).
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use weft_proto::pb;

use super::Services;
use crate::driver::Command;

/// Bytes of the copy in one chunk.
const CHUNK_BYTES: usize = 1024 * 1024;
const TEMP_PREFIX: &str = ".backup-";
const TEMP_SUFFIX: &str = ".tmp";

/// Removes copies left by a coordinator that stopped while streaming one.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a backup copy left by an earlier run")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a leftover backup copy")
                }
            }
        }
    }
}

/// Deletes the copy when dropped.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Services {
    pub(super) async fn backup_inner(&self) -> Result<ReceiverStream<Result<pb::BackupChunk, Status>>, Status> {
        let Some(dir) = &self.data_dir else {
            return Err(Status::failed_precondition(if self.shared_store {
                "this coordinator keeps its state in PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, or \
                 a base backup with WAL archiving)"
            } else {
                "this coordinator keeps its state in memory: nothing to back up"
            }));
        };
        // One at a time: each copy is the size of the store, on the store's own disk.
        let turn = self.backup_turn.clone().try_acquire_owned().map_err(|_| {
            Status::failed_precondition("a backup is already being taken; try again when it has finished")
        })?;
        let copy = TempCopy(dir.join(format!("{TEMP_PREFIX}{}{TEMP_SUFFIX}", uuid::Uuid::now_v7())));
        let info = self
            .handle()?
            .ask_backup(|reply| Command::Backup { dest: copy.0.clone(), reply })
            .await?
            .map_err(|reason| Status::internal(format!("backup failed: {reason}")))?;
        tracing::info!(bytes = info.bytes, schema_version = info.schema_version, "backup taken; streaming it");
        let file = tokio::fs::File::open(&copy.0)
            .await
            .map_err(|e| Status::internal(format!("backup failed: cannot read the copy: {e}")))?;
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(async move {
            send_chunks(file, info, &tx).await;
            // In this order, so that a caller who saw the stream end can take the next
            // backup at once and finds no copy left behind.
            drop((turn, copy));
            drop(tx);
        });
        Ok(ReceiverStream::new(rx))
    }
}

/// Sends the copy in chunks, the first with its size and schema version; stops early when
/// the caller goes away.
async fn send_chunks(
    mut file: tokio::fs::File,
    info: weft_store::BackupInfo,
    tx: &mpsc::Sender<Result<pb::BackupChunk, Status>>,
) {
    let mut first = Some((info.bytes, info.schema_version));
    let mut sent = 0u64;
    loop {
        let mut data = vec![0; CHUNK_BYTES];
        let n = match read_full(&mut file, &mut data).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(Status::internal(format!("backup failed: reading the copy: {e}")))).await;
                return;
            }
        };
        data.truncate(n);
        sent += n as u64;
        let (total_bytes, schema_version) = first.take().unwrap_or_default();
        if n == 0 && total_bytes == 0 {
            return;
        }
        if tx.send(Ok(pb::BackupChunk { data, total_bytes, schema_version })).await.is_err() {
            return; // the caller went away
        }
        if sent >= info.bytes {
            return;
        }
    }
}

/// Reads until `buf` is full or the file ends.
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
