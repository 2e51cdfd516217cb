//! The standalone journal: an append-only file of JSON lines, one per state change, each
//! written and fsync'd before the change is acknowledged, so a restart (even after
//! `kill -9`) replays exactly the state the server had. A torn last line (the process died
//! mid-write, so it was never acknowledged) is dropped; any other bad line is an error
//! naming the line. Compaction rewrites the file as a snapshot through a temporary file
//! and an atomic rename. What the entries mean is `state.rs`'s business.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cell::{BindRecord, PodSchedulingSpec};

/// One pod of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// True once bound (false: placed, bind not yet acknowledged).
    pub bound: bool,
    /// Its bind record (the record's `pod` is the uid).
    pub record: BindRecord,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Entry {
    /// The cluster config in force (always the first line): its text, so a restart with
    /// an edited config file first rebuilds the old state, then reconfigures.
    Config {
        /// The config file's text.
        text: String,
    },
    /// A snapshot of placed pods (compaction, reconfiguration).
    Restore {
        /// Pods in bind-record order.
        pods: Vec<SnapshotPod>,
    },
    /// A filter or preempt call that changed the allocator (bind or preempt decision).
    Schedule {
        /// Pod uid.
        uid: String,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The pod's scheduling spec.
        spec: Box<PodSchedulingSpec>,
        /// The suggested nodes of the call, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suggested: Option<Vec<String>>,
        /// A filter call (reports a preemption without reserving); absent for a preempt
        /// call, and in journals written before filter and preempt were told apart.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        filtering: bool,
    },
    /// A bind was acknowledged.
    Bind {
        /// Pod uid.
        uid: String,
    },
    /// A pod is gone.
    Release {
        /// Pod uid.
        uid: String,
    },
    /// A node was marked.
    Health {
        /// Node name.
        node: String,
        /// Healthy or bad.
        healthy: bool,
    },
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The file could not be read or written; the caller cannot continue safely.
    #[error("journal {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Another process has the journal open (another `cellsim serve`). The caller cannot
    /// continue.
    #[error("journal {path} is in use by another cellsim serve; stop that one first")]
    InUse {
        /// File.
        path: String,
    },
    /// A line is not a journal entry (not a torn last line): the file was damaged or is
    /// not a cellsim journal. The caller cannot continue.
    #[error(
        "journal {path}, line {line}: {message}; this is not a cellsim journal or it was edited: \
         restore it from a backup or move it away to start empty"
    )]
    Corrupt {
        /// File.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// An open journal, positioned for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Lines appended since the last snapshot.
    appended: usize,
}

impl Journal {
    /// Opens (or creates) the journal and returns it with the entries it holds.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        // Two servers appending to one journal would interleave their histories.
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => JournalError::InUse {
                path: path.display().to_string(),
            },
            std::fs::TryLockError::Error(e) => io(e),
        })?;
        let mut entries = Vec::new();
        let mut good_len: u64 = 0;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io)?;
            if read == 0 {
                break;
            }
            number += 1;
            // Written without its newline: the process died before the fsync returned,
            // so the change was never acknowledged. Drop it.
            if !line.ends_with('\n') {
                break;
            }
            good_len += read as u64;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line.trim_end()) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: path.display().to_string(),
                        line: number,
                        message: e.to_string(),
                    });
                }
            }
        }
        drop(reader);
        let len = file.metadata().map_err(io)?.len();
        if len != good_len {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let appended = entries.len();
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                appended,
            },
            entries,
        ))
    }

    /// Appends one entry and waits until it is on disk.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(entry).map_err(|e| self.io(e.into()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.io(e))?;
        self.file.sync_data().map_err(|e| self.io(e))?;
        self.appended += 1;
        Ok(())
    }

    /// Replaces the whole journal with `entries` atomically (temporary file, fsync,
    /// rename, fsync of the folder).
    pub fn rewrite(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("tmp");
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry).map_err(|e| self.io(e.into()))?);
            text.push('\n');
        }
        {
            let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
            f.write_all(text.as_bytes()).map_err(|e| self.io(e))?;
            f.sync_all().map_err(|e| self.io(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            // Makes the rename itself durable; not all platforms can open a folder.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        // The lock was on the replaced file; take it on the new one.
        self.file
            .try_lock()
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
        self.appended = entries.len();
        Ok(())
    }

    /// Lines in the file since it was last rewritten (or opened).
    pub fn len(&self) -> usize {
        self.appended
    }

    /// True when the journal holds no line.
    pub fn is_empty(&self) -> bool {
        self.appended == 0
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cellsim-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("j.jsonl")
    }

    #[test]
    fn entries_survive_reopen_and_a_torn_tail_is_dropped() {
        let path = temp("torn");
        let (mut j, e) = Journal::open(&path).unwrap();
        assert!(e.is_empty());
        j.append(&Entry::Bind { uid: "a".into() }).unwrap();
        j.append(&Entry::Release { uid: "a".into() }).unwrap();
        drop(j);
        // A write cut short by kill -9.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"op":"bind","ui"#).unwrap();
        drop(f);
        let (mut j, e) = Journal::open(&path).unwrap();
        assert_eq!(e.len(), 2);
        j.append(&Entry::Bind { uid: "b".into() }).unwrap();
        drop(j);
        let (_, e) = Journal::open(&path).unwrap();
        assert_eq!(e.last(), Some(&Entry::Bind { uid: "b".into() }));
    }

    #[test]
    fn a_bad_middle_line_is_an_error_naming_it() {
        let path = temp("corrupt");
        std::fs::write(
            &path,
            "{\"op\":\"bind\",\"uid\":\"a\"}\nnot json\n{\"op\":\"bind\",\"uid\":\"b\"}\n",
        )
        .unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_journal_in_use_is_refused() {
        let path = temp("in-use");
        let (_held, _) = Journal::open(&path).unwrap();
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::InUse { .. })
        ));
    }

    #[test]
    fn rewrite_replaces_the_content() {
        let path = temp("rewrite");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&Entry::Bind { uid: "a".into() }).unwrap();
        j.rewrite(&[Entry::Release { uid: "z".into() }]).unwrap();
        j.append(&Entry::Bind { uid: "c".into() }).unwrap();
        drop(j);
        let (_, e) = Journal::open(&path).unwrap();
        assert_eq!(
            e,
            vec![
                Entry::Release { uid: "z".into() },
                Entry::Bind { uid: "c".into() }
            ]
        );
    }
}
