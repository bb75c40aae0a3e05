//! Writes run history and audit records off the call path: one thread owns
//! a connection to `state.db` and commits whatever has queued up in one
//! transaction. A dispatch only enqueues; readers call [`Recorder::sync`]
//! first, so they always see their own writes; shutdown drains the queue.

use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;

use crate::StateError;
use crate::audit::{AuditEvent, append_in};
use crate::history::{NewRun, record_in};

/// Most records committed in one transaction.
const BATCH: usize = 4096;

/// How long the writer lets records gather before committing them.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

#[derive(Debug)]
enum Message {
    Run(Box<NewRun>),
    Audit(Box<AuditEvent>),
    Sync(mpsc::Sender<()>),
    Synced(tokio::sync::oneshot::Sender<()>),
}

/// The queue to the writer thread.
#[derive(Debug)]
pub struct Recorder {
    queue: Option<mpsc::Sender<Message>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Starts the writer on the database at `path` (the schema is created by
    /// `History::open` and `AuditLog::open`).
    pub fn start(path: &Path) -> Result<Self, StateError> {
        // The schema is made by `History::open` and `AuditLog::open`.
        let mut conn = crate::sqlite::open(path, "")?;
        let (queue, inbox) = mpsc::channel::<Message>();
        let writer = std::thread::Builder::new()
            .name("sc-recorder".to_owned())
            .spawn(move || {
                let mut since_prune = std::collections::HashMap::new();
                while let Ok(first) = inbox.recv() {
                    // Let a burst gather so one transaction (and one wake-up
                    // of this thread) covers many runs; a reader waiting in
                    // `sync` is served at once.
                    if !matches!(first, Message::Sync(_) | Message::Synced(_)) {
                        std::thread::sleep(GATHER);
                    }
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match inbox.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    if let Err(err) = write_batch(&mut conn, &batch, &mut since_prune) {
                        // One bad record must not take the batch down with it.
                        tracing::warn!(error = %err, records = batch.len(), "batch failed; recording one by one");
                        for message in &batch {
                            if let Err(err) = write_batch(&mut conn, std::slice::from_ref(message), &mut since_prune) {
                                tracing::error!(error = %err, "could not record a run or audit event");
                            }
                        }
                    }
                    for message in batch {
                        match message {
                            Message::Sync(done) => {
                                let _ = done.send(());
                            }
                            Message::Synced(done) => {
                                let _ = done.send(());
                            }
                            Message::Run(_) | Message::Audit(_) => {}
                        }
                    }
                }
            })
            .map_err(|source| StateError::Io {
                action: "starting the recorder thread",
                source,
            })?;
        Ok(Self {
            queue: Some(queue),
            writer: Some(writer),
        })
    }

    fn send(&self, message: Message) {
        if let Some(queue) = &self.queue
            && queue.send(message).is_err()
        {
            tracing::error!("the recorder has stopped; a record was dropped");
        }
    }

    /// Queues a finished run.
    pub fn run(&self, run: NewRun) {
        self.send(Message::Run(Box::new(run)));
    }

    /// Queues an audit event.
    pub fn audit(&self, event: AuditEvent) {
        self.send(Message::Audit(Box::new(event)));
    }

    /// Returns once everything queued before the call is committed. Blocks
    /// the thread: async code awaits [`Recorder::synced`] instead.
    pub fn sync(&self) {
        let (done, wait) = mpsc::channel();
        self.send(Message::Sync(done));
        let _ = wait.recv();
    }

    /// Resolves once everything queued before the call is committed,
    /// without blocking an async worker while it waits.
    pub async fn synced(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Message::Synced(done));
        let _ = wait.await;
    }
}

/// Runs recorded per skill between two prunings of its history.
const PRUNE_EVERY: u32 = 64;

fn write_batch(
    conn: &mut Connection,
    batch: &[Message],
    since_prune: &mut std::collections::HashMap<String, u32>,
) -> rusqlite::Result<()> {
    if batch
        .iter()
        .all(|m| matches!(m, Message::Sync(_) | Message::Synced(_)))
    {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for message in batch {
        match message {
            Message::Run(run) => {
                let count = since_prune.entry(run.skill_id.clone()).or_insert(0);
                *count += 1;
                let prune = *count >= PRUNE_EVERY;
                if prune {
                    *count = 0;
                }
                record_in(&tx, run, prune)?;
            }
            Message::Audit(event) => {
                append_in(&tx, event)?;
            }
            Message::Sync(_) | Message::Synced(_) => {}
        }
    }
    tx.commit()
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the queue lets the writer drain it and stop.
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}
