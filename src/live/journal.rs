//! The standalone journal: an append-only file with one line per state change, written
//! before the change is acknowledged, so that a restart (even after `kill -9`) restores
//! exactly what the server had acknowledged. What the entries mean is `state.rs`'s
//! business; this file owns the format, reading it back, and writing it.
//!
//! Format: each line is `SEQ CRC JSON`: a sequence number counted from 1 in each file, the
//! CRC-32 of `SEQ JSON` chained from the previous line's CRC (so an edited, removed or
//! reordered line is found), and the entry as JSON. Reading stops with an error naming the
//! line at any damage followed by a good line; damage only at the end is a torn tail (the
//! process died while writing it, so it was never acknowledged): it is moved aside to
//! `JOURNAL.torn-N`, reported, and the journal goes on from the last good line.
//! Compaction writes a snapshot to `JOURNAL.compacting`, fsyncs it and renames it over the
//! journal; a leftover `.compacting` file (killed mid-compaction) is removed at start.
//!
//! Writing goes through [`GroupCommit`]: requests queue their entries under the state lock
//! and a writer thread writes whatever is queued with one `write` and one fsync (group
//! commit), then tells every waiter its entry is durable.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::metrics::Metrics;
use crate::cell::BindRecord;

/// One placed pod as the journal records it: its bind record (node, devices and the
/// whole group's placement), which restores it without deciding anything again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// True once bound (false: placed, bind not yet acknowledged).
    pub bound: bool,
    /// Its bind record (the record's `pod` is the uid); shared with the live state, so a
    /// snapshot copies no record.
    pub record: Arc<BindRecord>,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Entry {
    /// The cluster config in force (always the first line): its text, so a restart with
    /// an edited config file first restores the old state, then reconfigures.
    Config {
        /// The config file's text.
        text: String,
    },
    /// A snapshot of every placed pod (compaction, reconfiguration): replaces all pods.
    Restore {
        /// Pods in uid order.
        pods: Vec<SnapshotPod>,
    },
    /// Pods placed or changed by one decision: the pod a filter placed, and the pods of
    /// groups that decision lazily preempted (their records now say opportunistic).
    /// Each replaces the earlier record of the same uid.
    Place {
        /// The pods.
        pods: Vec<SnapshotPod>,
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
    /// A line before the end is damaged, missing or not a journal line. The caller cannot
    /// continue: what the lines after it hold cannot be trusted.
    #[error(
        "journal {path}, line {line}: {message}; lines after it are intact, so this is not a \
         write cut short by a crash: the file was edited or damaged. Restore it from a backup, or \
         keep lines 1 to {keep} only (`head -n {keep}`) to restart from the state before the damage \
         (pods changed after it must then be deleted by hand)",
        keep = line.saturating_sub(1)
    )]
    Corrupt {
        /// File.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The lines are valid but do not describe a state this server can restore (a
    /// contradiction, or an entry in the wrong place). The caller cannot continue.
    #[error(
        "journal {path}, line {line}: {message}; the journal contradicts itself: restore it from a \
         backup or move it away to start empty"
    )]
    Inconsistent {
        /// File.
        path: String,
        /// 1-based line number (0: found after reading every line).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A torn tail found at start-up: moved aside, never acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based number of its first line.
    pub line: usize,
    /// Its length in bytes.
    pub bytes: u64,
    /// Where its bytes were saved.
    pub saved_to: PathBuf,
}

/// What opening a journal found besides its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// A torn tail that was moved aside.
    pub torn: Option<TornTail>,
    /// An interrupted compaction's temporary file was removed.
    pub removed_compaction: bool,
}

/// An open journal file, positioned for appending. Used by one thread at a time
/// ([`GroupCommit`]'s writer).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Sequence number of the last line written.
    seq: u64,
    /// CRC of the last line written (the next line's chain start).
    crc: u32,
    /// Lines since the last snapshot (or open).
    lines: usize,
    /// Bytes of the file.
    bytes: u64,
    /// Line buffer, reused.
    buffer: Vec<u8>,
}

/// One parsed line.
struct Line<'a> {
    seq: u64,
    crc: u32,
    json: &'a str,
    /// The bytes the CRC covers (`SEQ JSON`).
    covered: Vec<u8>,
}

fn split_line(raw: &[u8]) -> Result<Line<'_>, String> {
    let text = std::str::from_utf8(raw)
        .map_err(|e| format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to() + 1))?;
    let mut parts = text.splitn(3, ' ');
    let (Some(seq), Some(crc), Some(json)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not a journal line (expected `SEQ CRC JSON`)".to_string());
    };
    let seq: u64 = seq
        .parse()
        .map_err(|_| format!("sequence number {seq:?} is not a number"))?;
    let crc = u32::from_str_radix(crc, 16)
        .ok()
        .filter(|_| crc.len() == 8)
        .ok_or_else(|| format!("checksum {crc:?} is not 8 hex digits"))?;
    let mut covered = Vec::with_capacity(json.len() + 21);
    covered.extend_from_slice(seq.to_string().as_bytes());
    covered.push(b' ');
    covered.extend_from_slice(json.as_bytes());
    Ok(Line {
        seq,
        crc,
        json,
        covered,
    })
}

fn chained_crc(prev: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(prev);
    h.update(bytes);
    h.finalize()
}

/// Why a line was not accepted.
enum BadLine {
    /// Not a readable journal line (cut short, garbage, zeros, invalid UTF-8, JSON that
    /// does not read): at the end of the file, what a crash mid-write leaves.
    Unreadable(String),
    /// A readable line that does not follow its predecessor (sequence or checksum), or
    /// one in an earlier format: never what a crash leaves.
    Damaged(String),
}

/// Checks one line against its predecessor's CRC and sequence number and parses it.
fn check_line(raw: &[u8], prev_seq: u64, prev_crc: u32) -> Result<(Entry, u64, u32), BadLine> {
    if raw.first() == Some(&b'{') {
        return Err(BadLine::Damaged(
            "a line without sequence number and checksum, as an earlier cellsim wrote them; \
             this cellsim cannot read that format"
                .to_string(),
        ));
    }
    let line = split_line(raw).map_err(BadLine::Unreadable)?;
    let entry = serde_json::from_str::<Entry>(line.json);
    if line.seq != prev_seq + 1 {
        return Err(BadLine::Damaged(format!(
            "sequence number {} where {} was expected: a line is missing or out of order",
            line.seq,
            prev_seq + 1
        )));
    }
    if chained_crc(prev_crc, &line.covered) != line.crc {
        let message = "checksum mismatch: the line was changed, or a line before it was";
        return Err(match entry {
            Ok(_) => BadLine::Damaged(message.to_string()),
            Err(_) => BadLine::Unreadable(message.to_string()),
        });
    }
    let entry = entry.map_err(|e| {
        BadLine::Damaged(format!(
            "the checksum is right but the entry does not read: {e}"
        ))
    })?;
    Ok((entry, line.seq, line.crc))
}

/// True when `raw` reads as a journal line (whatever its place): damage followed by one
/// is not a torn tail.
fn readable(raw: &[u8]) -> bool {
    split_line(raw).is_ok_and(|l| serde_json::from_str::<Entry>(l.json).is_ok())
}

impl Journal {
    /// Opens (or creates) the journal and returns it with the entries it holds and what
    /// was found on the way (a torn tail moved aside, an interrupted compaction).
    pub fn open(path: &Path) -> Result<(Journal, Vec<Entry>, OpenReport), JournalError> {
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
        let mut report = OpenReport::default();
        let compacting = compaction_path(path);
        if compacting.exists() {
            // Killed before the rename: the journal itself is whole; the snapshot is not.
            std::fs::remove_file(&compacting).map_err(io)?;
            report.removed_compaction = true;
        }
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io)?;
        let mut raws: Vec<(usize, &[u8])> = Vec::new();
        let mut start = 0;
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' {
                raws.push((start, &data[start..i]));
                start = i + 1;
            }
        }
        // A last line without its newline was cut short.
        let unterminated = (start < data.len()).then(|| (start, &data[start..]));
        let mut entries = Vec::new();
        let (mut seq, mut crc) = (0u64, 0u32);
        let mut good_len = 0usize;
        let mut bad: Option<(usize, BadLine)> = None;
        for (i, &(offset, raw)) in raws.iter().enumerate() {
            match check_line(raw, seq, crc) {
                Ok((entry, s, c)) => {
                    entries.push(entry);
                    seq = s;
                    crc = c;
                    good_len = offset + raw.len() + 1;
                }
                Err(why) => {
                    bad = Some((i, why));
                    break;
                }
            }
        }
        let tail_start = match bad {
            Some((i, bad)) => {
                let corrupt = |message: String| JournalError::Corrupt {
                    path: path.display().to_string(),
                    line: i + 1,
                    message,
                };
                match bad {
                    BadLine::Damaged(message) => return Err(corrupt(message)),
                    // Damage followed by a readable line is not a crash's torn write.
                    BadLine::Unreadable(message) => {
                        if raws[i + 1..].iter().any(|(_, raw)| readable(raw)) {
                            return Err(corrupt(message));
                        }
                    }
                }
                Some((i + 1, raws[i].0))
            }
            None => unterminated.map(|(offset, _)| (raws.len() + 1, offset)),
        };
        if let Some((line, offset)) = tail_start {
            let saved_to = free_torn_path(path);
            let mut saved = File::create(&saved_to).map_err(io)?;
            saved.write_all(&data[offset..]).map_err(io)?;
            saved.sync_all().map_err(io)?;
            sync_parent(path);
            file.set_len(good_len as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
            report.torn = Some(TornTail {
                line,
                bytes: (data.len() - offset) as u64,
                saved_to,
            });
        }
        let lines = entries.len();
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                seq,
                crc,
                lines,
                bytes: good_len as u64,
                buffer: Vec::new(),
            },
            entries,
            report,
        ))
    }

    /// Serialises `entry` as the next line into the write buffer.
    fn push_line(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let json = serde_json::to_string(entry).map_err(|e| self.io(e.into()))?;
        let seq = self.seq + 1;
        let seq_text = seq.to_string();
        let mut h = crc32fast::Hasher::new_with_initial(self.crc);
        h.update(seq_text.as_bytes());
        h.update(b" ");
        h.update(json.as_bytes());
        let crc = h.finalize();
        self.buffer.extend_from_slice(seq_text.as_bytes());
        self.buffer
            .extend_from_slice(format!(" {crc:08x} ").as_bytes());
        self.buffer.extend_from_slice(json.as_bytes());
        self.buffer.push(b'\n');
        self.seq = seq;
        self.crc = crc;
        self.lines += 1;
        Ok(())
    }

    /// Appends `entries` with one write and waits until they are on disk.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        self.buffer.clear();
        let (seq, crc, lines) = (self.seq, self.crc, self.lines);
        for entry in entries {
            if let Err(e) = self.push_line(entry) {
                (self.seq, self.crc, self.lines) = (seq, crc, lines);
                return Err(e);
            }
        }
        let buffer = std::mem::take(&mut self.buffer);
        let written = self
            .file
            .write_all(&buffer)
            .and_then(|()| self.file.sync_data());
        self.bytes += buffer.len() as u64;
        self.buffer = buffer;
        written.map_err(|e| self.io(e))
    }

    /// Replaces the whole journal with `entries` atomically (temporary file, fsync,
    /// rename, fsync of the folder).
    pub fn rewrite(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        let tmp = compaction_path(&self.path);
        (self.seq, self.crc, self.lines) = (0, 0, 0);
        self.buffer.clear();
        for entry in entries {
            self.push_line(entry)?;
        }
        {
            let mut f = File::create(&tmp).map_err(|e| self.io(e))?;
            f.write_all(&self.buffer).map_err(|e| self.io(e))?;
            f.sync_all().map_err(|e| self.io(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        sync_parent(&self.path);
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        // The lock was on the replaced file; take it on the new one.
        self.file
            .try_lock()
            .map_err(|e| self.io(std::io::Error::other(e.to_string())))?;
        self.bytes = self.buffer.len() as u64;
        Ok(())
    }

    /// Lines in the file since it was last rewritten (or opened).
    pub fn len(&self) -> usize {
        self.lines
    }

    /// True when the journal holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Size of the file in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
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

/// The temporary file of a compaction.
fn compaction_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".compacting");
    PathBuf::from(name)
}

/// `JOURNAL.torn-N` with the first N not yet taken (earlier torn tails are kept).
fn free_torn_path(path: &Path) -> PathBuf {
    (1u32..)
        .map(|n| {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".torn-{n}"));
            PathBuf::from(name)
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| path.with_extension("torn"))
}

/// Makes a rename or create in `path`'s folder durable; not all platforms can open a
/// folder, so failure is ignored there.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// What the writer thread has made durable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    /// Every entry with a ticket up to this one is on disk.
    pub seq: u64,
    /// Writing failed: nothing after `seq` will be.
    pub failed: Option<String>,
}

enum Op {
    Append(Entry),
    Rewrite(Vec<Entry>),
}

#[derive(Default)]
struct Queue {
    ops: Vec<Op>,
    /// Ticket of the last op queued.
    last: u64,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    durable: Mutex<Durable>,
    durable_changed: Condvar,
    watch: tokio::sync::watch::Sender<Durable>,
}

/// The journal's writer: entries are queued (cheaply, under the state lock) and a thread
/// writes everything queued with one write and one fsync, so concurrent requests share
/// an fsync; each request then waits for its own ticket to be durable before answering.
/// Dropping it writes what is queued and stops the thread.
pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("path", &self.path)
            .finish()
    }
}

/// A queued change's place in the journal: wait on it before acknowledging the change.
#[derive(Clone)]
pub struct Ticket {
    shared: Arc<Shared>,
    seq: u64,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.seq)
    }
}

impl Ticket {
    /// Waits until the change is on disk; the error says why it never will be.
    pub async fn durable(self) -> Result<(), String> {
        let mut rx = self.shared.watch.subscribe();
        let seq = self.seq;
        let result = match rx.wait_for(|d| d.seq >= seq || d.failed.is_some()).await {
            Ok(d) => d.clone(),
            Err(_) => return Err("the journal writer stopped".to_string()),
        };
        done(&result, seq)
    }

    /// [`Ticket::durable`] for threads outside the async runtime.
    pub fn durable_blocking(self) -> Result<(), String> {
        let seq = self.seq;
        let mut d = self
            .shared
            .durable
            .lock()
            .map_err(|_| "the journal writer panicked".to_string())?;
        while d.seq < seq && d.failed.is_none() {
            d = self
                .shared
                .durable_changed
                .wait(d)
                .map_err(|_| "the journal writer panicked".to_string())?;
        }
        done(&d, seq)
    }
}

fn done(d: &Durable, seq: u64) -> Result<(), String> {
    if d.seq >= seq {
        Ok(())
    } else {
        Err(d.failed.clone().unwrap_or_default())
    }
}

impl GroupCommit {
    /// Starts the writer thread over `journal`. A write failure is put in `failed` (the
    /// state refuses changes from then on) and every waiter gets it.
    pub fn start(
        journal: Journal,
        metrics: Metrics,
        failed: Arc<OnceLock<String>>,
    ) -> Result<GroupCommit, JournalError> {
        let (watch, _) = tokio::sync::watch::channel(Durable::default());
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            durable: Mutex::new(Durable::default()),
            durable_changed: Condvar::new(),
            watch,
        });
        let path = journal.path().to_path_buf();
        metrics.journal_size(journal.bytes(), journal.len());
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cellsim-journal".to_string())
            .spawn(move || write_loop(journal, &writer, &metrics, &failed))
            .map_err(|source| JournalError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
            path,
        })
    }

    fn push(&self, op: Op) -> Ticket {
        // A poisoned queue means the writer panicked; waiters then see it stopped.
        let seq = match self.shared.queue.lock() {
            Ok(mut q) => {
                q.ops.push(op);
                q.last += 1;
                q.last
            }
            Err(_) => u64::MAX,
        };
        self.shared.wake.notify_one();
        Ticket {
            shared: self.shared.clone(),
            seq,
        }
    }

    /// Queues one entry.
    pub fn append(&self, entry: Entry) -> Ticket {
        self.push(Op::Append(entry))
    }

    /// Queues a rewrite of the whole journal (compaction): everything queued before it
    /// is covered by `entries`.
    pub fn rewrite(&self, entries: Vec<Entry>) -> Ticket {
        self.push(Op::Rewrite(entries))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.closed = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(mut journal: Journal, shared: &Shared, metrics: &Metrics, failed: &OnceLock<String>) {
    let mut appends: Vec<Entry> = Vec::new();
    loop {
        let (ops, last) = {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            while q.ops.is_empty() && !q.closed {
                q = match shared.wake.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            if q.ops.is_empty() {
                return;
            }
            (std::mem::take(&mut q.ops), q.last)
        };
        let started = Instant::now();
        let mut result = Ok(());
        for op in ops {
            match op {
                Op::Append(entry) => appends.push(entry),
                Op::Rewrite(entries) => {
                    // The snapshot covers every change queued before it.
                    appends.clear();
                    result = journal.rewrite(&entries);
                    metrics.compacted();
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
        if result.is_ok() && !appends.is_empty() {
            result = journal.append(&appends);
        }
        appends.clear();
        metrics.journal_write(started.elapsed().as_secs_f64());
        metrics.journal_size(journal.bytes(), journal.len());
        let d = match result {
            Ok(()) => Durable {
                seq: last,
                failed: None,
            },
            Err(e) => {
                let message = e.to_string();
                let _ = failed.set(message.clone());
                let seq = shared.durable.lock().map(|d| d.seq).unwrap_or(0);
                Durable {
                    seq,
                    failed: Some(message),
                }
            }
        };
        let stop = d.failed.is_some();
        if let Ok(mut slot) = shared.durable.lock() {
            *slot = d.clone();
        }
        shared.durable_changed.notify_all();
        shared.watch.send_replace(d);
        if stop {
            return;
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

    fn bind(uid: &str) -> Entry {
        Entry::Bind { uid: uid.into() }
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_torn_tail_is_moved_aside_and_reported() {
        let path = temp("torn");
        let (mut j, e, r) = Journal::open(&path).unwrap();
        assert!(e.is_empty() && r == OpenReport::default());
        j.append(&[bind("a"), Entry::Release { uid: "a".into() }])
            .unwrap();
        drop(j);
        // A write cut short by kill -9.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3 0badc0de {\"op\":\"bind\",\"ui").unwrap();
        drop(f);
        let (mut j, e, r) = Journal::open(&path).unwrap();
        assert_eq!(e.len(), 2);
        let torn = r.torn.expect("reported");
        assert_eq!(torn.line, 3);
        assert_eq!(
            std::fs::read(&torn.saved_to).unwrap(),
            b"3 0badc0de {\"op\":\"bind\",\"ui"
        );
        j.append(&[bind("b")]).unwrap();
        drop(j);
        let (_, e, r) = Journal::open(&path).unwrap();
        assert_eq!(e.last(), Some(&bind("b")));
        assert!(r.torn.is_none());
    }

    #[test]
    fn a_complete_but_damaged_last_line_is_a_torn_tail_too() {
        let path = temp("torn-zeros");
        let (mut j, _, _) = Journal::open(&path).unwrap();
        j.append(&[bind("a")]).unwrap();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 64]).unwrap();
        f.write_all(b"\n").unwrap();
        drop(f);
        let (_, e, r) = Journal::open(&path).unwrap();
        assert_eq!(e, vec![bind("a")]);
        assert_eq!(r.torn.map(|t| t.line), Some(2));
    }

    #[test]
    fn a_removed_middle_line_is_an_error_naming_it() {
        let path = temp("removed");
        let (mut j, _, _) = Journal::open(&path).unwrap();
        j.append(&[bind("a"), bind("b"), bind("c")]).unwrap();
        drop(j);
        let l = lines(&path);
        std::fs::write(&path, format!("{}\n{}\n", l[0], l[2])).unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("missing"), "{err}");
        assert!(err.contains("head -n 1"), "{err}");
    }

    #[test]
    fn an_edited_middle_line_is_an_error_naming_it() {
        let path = temp("edited");
        let (mut j, _, _) = Journal::open(&path).unwrap();
        j.append(&[bind("a"), bind("b"), bind("c")]).unwrap();
        drop(j);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"b\"", "\"x\"");
        std::fs::write(&path, text).unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("checksum"), "{err}");
    }

    #[test]
    fn invalid_utf8_mid_file_names_the_line() {
        let path = temp("utf8");
        let (mut j, _, _) = Journal::open(&path).unwrap();
        j.append(&[bind("a"), bind("b"), bind("c")]).unwrap();
        drop(j);
        let mut data = std::fs::read(&path).unwrap();
        let second = data.iter().position(|&b| b == b'\n').unwrap() + 5;
        data[second] = 0xff;
        std::fs::write(&path, data).unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn an_old_format_journal_is_named_as_such() {
        let path = temp("old");
        std::fs::write(
            &path,
            "{\"op\":\"bind\",\"uid\":\"a\"}\n{\"op\":\"bind\",\"uid\":\"b\"}\n",
        )
        .unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("earlier cellsim"),
            "{err}"
        );
    }

    #[test]
    fn a_journal_in_use_is_refused() {
        let path = temp("in-use");
        let (_held, _, _) = Journal::open(&path).unwrap();
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::InUse { .. })
        ));
    }

    #[test]
    fn rewrite_replaces_the_content_and_an_interrupted_one_is_removed() {
        let path = temp("rewrite");
        let (mut j, _, _) = Journal::open(&path).unwrap();
        j.append(&[bind("a")]).unwrap();
        j.rewrite(&[Entry::Release { uid: "z".into() }]).unwrap();
        j.append(&[bind("c")]).unwrap();
        drop(j);
        std::fs::write(compaction_path(&path), "1 00000000 {\"op\"").unwrap();
        let (_, e, r) = Journal::open(&path).unwrap();
        assert_eq!(e, vec![Entry::Release { uid: "z".into() }, bind("c")]);
        assert!(r.removed_compaction);
        assert!(!compaction_path(&path).exists());
    }

    #[test]
    fn group_commit_writes_in_ticket_order_and_flushes_on_drop() {
        let path = temp("group");
        let (j, _, _) = Journal::open(&path).unwrap();
        let failed = Arc::new(OnceLock::new());
        let g = GroupCommit::start(j, Metrics::new(), failed.clone()).unwrap();
        let t1 = g.append(bind("a"));
        let _t2 = g.rewrite(vec![bind("snap")]);
        let t3 = g.append(bind("b"));
        t1.durable_blocking().unwrap();
        t3.durable_blocking().unwrap();
        let _t4 = g.append(bind("c"));
        drop(g);
        let (_, e, _) = Journal::open(&path).unwrap();
        assert_eq!(e, vec![bind("snap"), bind("b"), bind("c")]);
        assert!(failed.get().is_none());
    }
}
