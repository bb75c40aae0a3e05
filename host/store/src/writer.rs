//! The store's one writer: opened by a write, committed with the catalog in
//! the commit's payload, and closed when idle so that another process (an
//! ingest beside a running service) can take the index's write lock.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tantivy::Index;

use crate::document::EventDoc;
use crate::{Catalog, StoreError, storage};

/// A tantivy writer of the store's documents.
pub(crate) type EventWriter = tantivy::IndexWriter<EventDoc>;

/// Writer memory: enough for large ingest batches on a small machine.
const WRITER_MEMORY_BYTES: usize = 128 << 20;

/// How long a write waits while another process writes to the store.
const WRITE_LOCK_WAIT: Duration = Duration::from_secs(30);

/// How long the writer stays open after a write, ready for an ingest's next
/// batch; then the write lock is let go, so another process can write.
const WRITER_LINGER: Duration = Duration::from_secs(1);

/// The open writer, when it last wrote, and what it holds uncommitted.
pub(crate) struct OpenWriter {
    pub writer: EventWriter,
    pub last_write: Instant,
    pub staged: Option<Staged>,
}

/// Writes not yet committed: the catalog they need, and hashes of their
/// keys, since the index cannot answer for them before the commit (a
/// collision only costs a delete of a key nothing holds).
pub(crate) struct Staged {
    pub catalog: Catalog,
    uid_hashes: HashSet<u64>,
    hasher: RandomState,
}

impl Staged {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            uid_hashes: HashSet::new(),
            hasher: RandomState::new(),
        }
    }

    /// Records a key; answers whether it may have been staged before.
    pub fn seen_before(&mut self, uid: &str) -> bool {
        !self.uid_hashes.insert(self.hasher.hash_one(uid))
    }
}

impl OpenWriter {
    /// Commits the staged writes, the catalog in the commit's payload, so a
    /// crash leaves documents and catalog at the same commit. Answers the
    /// commit's opstamp and catalog; nothing when nothing was staged.
    pub fn commit(&mut self) -> Result<Option<(u64, Catalog)>, StoreError> {
        let Some(staged) = self.staged.take() else {
            return Ok(None);
        };
        let payload = serde_json::to_string(&staged.catalog)
            .map_err(|e| storage("writing the index catalog", e))?;
        let mut commit = self.writer.prepare_commit()?;
        commit.set_payload(&payload);
        let opstamp = commit.commit()?;
        self.last_write = Instant::now();
        Ok(Some((opstamp, staged.catalog)))
    }
}

/// The writer, shared with the thread that closes it when idle.
pub(crate) struct WriterSlot {
    pub open: Option<OpenWriter>,
    /// Why writes staged earlier were lost out of a caller's sight (the idle
    /// closer's commit failed, or a write panicked): told to the next caller.
    lost: Option<String>,
}

impl WriterSlot {
    /// Fails with what was lost since the last call, if anything.
    pub fn check_nothing_lost(&mut self) -> Result<(), StoreError> {
        match self.lost.take() {
            Some(why) => Err(storage("documents staged earlier were not stored", why)),
            None => Ok(()),
        }
    }
}

/// The writer and what closes it.
pub(crate) struct Writers {
    slot: Arc<Mutex<WriterSlot>>,
    /// Whether a thread is waiting to close the writer.
    closing: Arc<AtomicBool>,
    /// Held while a closed writer's merges finish, so a new writer (and
    /// `close_writer`) can wait for a close already under way.
    merging: Arc<Mutex<()>>,
}

/// Locks the slot. A write that panicked left half a batch in the writer:
/// the writer is dropped (a later commit must not carry it) and the next
/// caller is told.
fn lock(slot: &Mutex<WriterSlot>) -> MutexGuard<'_, WriterSlot> {
    match slot.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            if guard.open.take().is_some() {
                guard.lost = Some("a write failed midway; re-run the load".into());
            }
            slot.clear_poison();
            guard
        }
    }
}

impl Writers {
    pub fn new() -> Self {
        Self {
            slot: Arc::new(Mutex::new(WriterSlot {
                open: None,
                lost: None,
            })),
            closing: Arc::new(AtomicBool::new(false)),
            merging: Arc::new(Mutex::new(())),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, WriterSlot> {
        lock(&self.slot)
    }

    /// Waits for the merges of a writer this process closed.
    pub fn wait_for_closing_merges(&self) {
        drop(
            self.merging
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// Opens a writer, waiting up to [`WRITE_LOCK_WAIT`] while another
    /// process holds the index's write lock.
    pub fn open(&self, index: &Index) -> Result<OpenWriter, StoreError> {
        // A writer of this process closing in the background still holds
        // the lock until its merges end: wait for it, however long.
        self.wait_for_closing_merges();
        // Two indexing threads measured fastest on two cores (the caller
        // builds documents on a third).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        let deadline = Instant::now() + WRITE_LOCK_WAIT;
        let mut pause = Duration::from_millis(20);
        loop {
            match index.writer_with_num_threads(threads, WRITER_MEMORY_BYTES) {
                Ok(writer) => {
                    writer.set_merge_policy(Box::new(merge_policy()));
                    return Ok(OpenWriter {
                        writer,
                        last_write: Instant::now(),
                        staged: None,
                    });
                }
                Err(tantivy::TantivyError::LockFailure(
                    tantivy::directory::error::LockError::LockBusy,
                    _,
                )) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(err) => {
                    return Err(storage(
                        &format!(
                            "taking the store's write lock (another sc-host has been writing to it for over {} s)",
                            WRITE_LOCK_WAIT.as_secs()
                        ),
                        err,
                    ));
                }
            }
        }
    }

    /// Closes the writer once no write has come for [`WRITER_LINGER`],
    /// letting go of the write lock so another sc-host can write. Staged
    /// writes are committed under the slot's lock (a `commit` after this
    /// finds them stored, or hears why not), then the merges the writer
    /// started finish, as they write to the index too.
    pub fn close_when_idle(&self) {
        if self.closing.swap(true, Ordering::SeqCst) {
            return; // a closer is already waiting
        }
        let (slot, closing, merging) = (
            self.slot.clone(),
            self.closing.clone(),
            self.merging.clone(),
        );
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(WRITER_LINGER / 4);
                let mut guard = lock(&slot);
                let idle = guard
                    .open
                    .as_ref()
                    .is_none_or(|open| open.last_write.elapsed() >= WRITER_LINGER);
                if !idle {
                    continue;
                }
                // Cleared under the lock: a write after this sees no closer
                // and starts one.
                closing.store(false, Ordering::SeqCst);
                let Some(mut open) = guard.open.take() else {
                    return;
                };
                // Searches see this commit when the reader next follows
                // meta.json; the catalog is re-read with it.
                if let Err(err) = open.commit() {
                    tracing::error!(error = %err, "committing staged documents failed");
                    guard.lost = Some(err.to_string());
                }
                // Taken before the writer is let go, so a new writer or a
                // `close_writer` that finds none waits for these merges.
                let _merging = merging
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                drop(guard);
                if let Err(err) = open.writer.wait_merging_threads() {
                    // The commits stand; only a merge was lost.
                    tracing::warn!(error = %err, "a store merge failed; the data is intact");
                }
                return;
            }
        });
    }
}

/// Segments under this many documents are merged with each other, not
/// with bigger ones.
const SMALL_SEGMENT_DOCS: u32 = 100;

/// tantivy's log merge policy with a small bottom layer. Its default puts
/// every segment under 10,000 documents in one layer, so in a store of
/// that size each eighth small commit (a skill's few results) rewrote the
/// whole store; with a small layer, small segments merge with each other
/// first and reach the big ones by size, as in any log-structured store.
fn merge_policy() -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_layer_size(SMALL_SEGMENT_DOCS);
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Fields;

    #[test]
    fn a_key_staged_twice_is_seen_the_second_time() {
        let mut staged = Staged::new(Catalog::default());
        assert!(!staged.seen_before("logs\0a"));
        assert!(!staged.seen_before("logs\0b"));
        assert!(staged.seen_before("logs\0a"));
    }

    #[test]
    fn a_write_that_panicked_drops_the_writer_and_the_next_caller_hears_of_it() {
        let index = Index::create_in_ram(Fields::build().0);
        let writers = Writers::new();
        let open = writers.open(&index).unwrap();
        writers.lock().open = Some(open);
        std::thread::scope(|scope| {
            let panicked = scope
                .spawn(|| {
                    let _slot = writers.lock();
                    panic!("a write failed midway");
                })
                .join();
            assert!(panicked.is_err());
        });
        let mut slot = writers.lock();
        assert!(slot.open.is_none(), "the half-written batch is gone");
        let err = slot.check_nothing_lost().unwrap_err().to_string();
        assert!(err.contains("re-run the load"), "{err}");
        assert!(slot.check_nothing_lost().is_ok(), "told once");
    }
}
