//! The recorder thread: appends each session's recording bytes to its file, off the workers.
//!
//! Workers never touch the disk: they hand the sealed chunks a session's writer produced (about
//! one a second per direction) to this thread over a channel, and a file is closed when its
//! session ends. A write error closes that file and is counted; the call goes on.

use crate::worker::SessionId;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

/// What workers send.
pub(crate) enum RecordingMsg {
    /// Bytes to append to the session's file (created on the first message).
    Data(SessionId, Vec<u8>),
    /// The session ended: its last bytes; the file is closed after them.
    End(SessionId, Vec<u8>),
}

/// Counters of the recorder.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Files created.
    pub files: AtomicU64,
    /// Octets written.
    pub bytes: AtomicU64,
    /// Files abandoned after an I/O error.
    pub errors: AtomicU64,
}

pub(crate) fn run(dir: PathBuf, messages: Receiver<RecordingMsg>, stats: Arc<RecorderStats>) {
    let mut files: HashMap<SessionId, Option<File>> = HashMap::new();
    for msg in messages {
        let (id, bytes, end) = match msg {
            RecordingMsg::Data(id, b) => (id, b, false),
            RecordingMsg::End(id, b) => (id, b, true),
        };
        let file = files.entry(id).or_insert_with(|| {
            let name = dir.join(format!("{}-{}.twrec", unix_ms(), id.0));
            match OpenOptions::new().create_new(true).write(true).open(&name) {
                Ok(f) => {
                    stats.files.fetch_add(1, Ordering::Relaxed);
                    Some(f)
                }
                Err(e) => {
                    eprintln!("recording: cannot create {}: {e}", name.display());
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        });
        if let Some(f) = file.as_mut() {
            match f.write_all(&bytes) {
                Ok(()) => {
                    stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    eprintln!("recording: session {}: write failed: {e}", id.0);
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    *file = None;
                }
            }
        }
        if end
            && let Some(Some(f)) = files.remove(&id)
            && let Err(e) = f.sync_all()
        {
            eprintln!("recording: session {}: sync failed: {e}", id.0);
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}
