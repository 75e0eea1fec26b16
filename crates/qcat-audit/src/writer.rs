//! The batching writer: events that are not part of a store transaction (sign-ins,
//! denials, config file and secret changes) are queued here and appended in batches.
//!
//! A batch is written when it holds `batch_size` events, when `batch_timeout` has passed
//! since its first event, or at once when any event in it has a waiting caller
//! ([`AuditWriter::record`]): callers that must not report an action done before its entry
//! is durable get group commit instead of a five-second wait.
//!
//! [`AuditWriter::submit`] is for events a caller need not wait on (refusals): with
//! `async_mode` it returns once the event is in the local [`Spool`] (synced), and the batch
//! stores it later; a spool left by a killed process is stored by the next writer to start.
//! With `async_mode` off, `submit` waits like `record`.

use std::time::Duration;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use qcat_runtime::{Restart, Stage, TaskContext, Tasks};
use qcat_store::Store;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::event::AuditEvent;
use crate::spool::{Spool, new_event_id};
use crate::{AuditError, chain};

/// The `[audit]` settings the writer uses.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub batch_size: usize,
    pub batch_timeout: Duration,
    pub async_mode: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            batch_timeout: Duration::from_secs(5),
            async_mode: true,
        }
    }
}

type Reply = oneshot::Sender<Result<i64, String>>;

enum Request {
    /// An event, who waits for it, and the spool segment holding it.
    Event(Box<AuditEvent>, Option<Reply>, Option<u64>),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// Events that may wait in memory for the writer; a caller beyond this waits for room
/// (back-pressure) instead of growing the queue without bound.
pub const QUEUE_CAPACITY: usize = 10_000;

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    sender: mpsc::Sender<Request>,
    options: WriterOptions,
    spool: Option<Arc<Spool>>,
}

/// Attempts per batch before waiting callers are told it failed.
const ATTEMPTS: u32 = 5;

impl AuditWriter {
    /// Starts the writer as the runtime task `audit-writer` (stage [`Stage::Audit`]: it
    /// stops last, after draining what the other stages queued). With a spool, the task
    /// first stores whatever dead processes left in it. A writer that fails is restarted
    /// on the same queue, so nothing queued is lost.
    pub fn start(
        store: Store,
        options: WriterOptions,
        spool: Option<Spool>,
        tasks: &Tasks,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let spool = spool.map(Arc::new);
        let receiver = Arc::new(Mutex::new(receiver));
        let replayed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task_spool = spool.clone();
        tasks.spawn(
            "audit-writer",
            Stage::Audit,
            Restart::OnFailure,
            move |context| {
                let (store, receiver, spool, replayed) = (
                    store.clone(),
                    receiver.clone(),
                    task_spool.clone(),
                    replayed.clone(),
                );
                async move {
                    let mut receiver = receiver.lock().await;
                    if let Some(spool) = &spool
                        && !replayed.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        replay_orphans(&store, spool).await;
                    }
                    run(&store, options, &mut receiver, spool.as_deref(), &context).await;
                    Ok(())
                }
            },
        );
        Self {
            sender,
            options,
            spool,
        }
    }

    /// Appends `event` and returns its sequence number once it is durable.
    pub async fn record(&self, event: AuditEvent) -> Result<i64, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Event(Box::new(event), Some(reply), None))
            .await
            .map_err(|_| AuditError::WriterStopped)?;
        match answer.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(message)) => Err(AuditError::NotRecorded(message)),
            Err(_) => Err(AuditError::WriterStopped),
        }
    }

    /// Queues `event`. With `async_mode` and a spool it returns once the event is synced
    /// to the spool; without a spool it returns at once (a crash can lose the event);
    /// without `async_mode` this is [`AuditWriter::record`].
    pub async fn submit(&self, mut event: AuditEvent) -> Result<(), AuditError> {
        if !self.options.async_mode {
            return self.record(event).await.map(drop);
        }
        let segment = match &self.spool {
            Some(spool) => {
                event.id = Some(new_event_id());
                let spool = spool.clone();
                let spooled = event.clone();
                let segment = tokio::task::spawn_blocking(move || spool.append(&spooled))
                    .await
                    .map_err(|err| AuditError::NotRecorded(err.to_string()))?
                    .map_err(|err| AuditError::NotRecorded(format!("spool: {err}")))?;
                Some(segment)
            }
            None => None,
        };
        self.sender
            .send(Request::Event(Box::new(event), None, segment))
            .await
            .map_err(|_| AuditError::WriterStopped)
    }

    /// Waits until everything queued so far is written (shutdown, tests, `audit verify`).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Flush(reply))
            .await
            .map_err(|_| AuditError::WriterStopped)?;
        answer.await.map_err(|_| AuditError::WriterStopped)
    }

    /// Events waiting in memory for the writer now.
    pub fn queued(&self) -> usize {
        QUEUE_CAPACITY - self.sender.capacity()
    }
}

/// Writes batches until the queue is closed. When the task is cancelled (shutdown), the
/// queue stops taking events and everything already in it is written before this returns.
async fn run(
    store: &Store,
    options: WriterOptions,
    receiver: &mut mpsc::Receiver<Request>,
    spool: Option<&Spool>,
    context: &TaskContext,
) {
    let batch_size = options.batch_size.max(1);
    let mut closing = false;
    loop {
        let first = tokio::select! {
            request = receiver.recv() => request,
            () = context.cancel().cancelled(), if !closing => {
                receiver.close();
                closing = true;
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(batch_size);
        let mut flushes = Vec::new();
        let mut urgent = false;
        let deadline = tokio::time::Instant::now() + options.batch_timeout;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Request::Event(event, reply, segment)) => {
                    urgent |= reply.is_some();
                    batch.push((*event, reply, segment));
                }
                Some(Request::Flush(reply)) => {
                    flushes.push(reply);
                    urgent = true;
                }
                None => {}
            }
            if batch.len() >= batch_size {
                break;
            }
            // Take whatever is already queued without waiting (group commit).
            if let Ok(request) = receiver.try_recv() {
                next = Some(request);
                continue;
            }
            if urgent || closing {
                break;
            }
            tokio::select! {
                request = receiver.recv() => match request {
                    Some(request) => next = Some(request),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                () = context.cancel().cancelled() => break,
            }
        }
        write_batch(store, batch, spool).await;
        for flush in flushes {
            let _ = flush.send(());
        }
    }
}

type Queued = (AuditEvent, Option<Reply>, Option<u64>);

async fn write_batch(store: &Store, batch: Vec<Queued>, spool: Option<&Spool>) {
    if batch.is_empty() {
        return;
    }
    let events: Vec<AuditEvent> = batch.iter().map(|(event, ..)| event.clone()).collect();
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    let result = loop {
        match append_committed(store, &events).await {
            Ok(seqs) => break Ok(seqs),
            Err(err) if attempt < ATTEMPTS => {
                tracing::warn!(attempt, error = %err, events = events.len(), "audit batch not written; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err(err) => break Err(err),
        }
    };
    match result {
        Ok(seqs) => {
            let mut stored: BTreeMap<u64, usize> = BTreeMap::new();
            for ((_, reply, segment), seq) in batch.into_iter().zip(seqs) {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(seq));
                }
                if let Some(segment) = segment {
                    *stored.entry(segment).or_default() += 1;
                }
            }
            if let Some(spool) = spool {
                for (segment, count) in stored {
                    spool.stored(segment, count);
                }
            }
        }
        Err(err) => {
            let actions: Vec<&str> = events.iter().map(|event| event.action.as_str()).collect();
            // Spooled events stay in the spool and are stored by the next writer to start.
            tracing::error!(error = %err, ?actions, "audit batch not written after {ATTEMPTS} attempts");
            for (_, reply, _) in batch {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(err.to_string()));
                }
            }
        }
    }
}

async fn append_committed(store: &Store, events: &[AuditEvent]) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let entries = chain::append(&mut tx, events).await?;
    tx.commit().await?;
    crate::mirror::committed(&entries);
    Ok(entries.into_iter().map(|entry| entry.seq).collect())
}

/// Stores the events of spools whose processes died, each once (an event already in the
/// log, stored just before its process was killed, is skipped by its id).
async fn replay_orphans(store: &Store, spool: &Spool) {
    let orphans = match spool.orphans() {
        Ok(orphans) => orphans,
        Err(err) => {
            tracing::error!(error = %err, "the audit spool could not be read");
            return;
        }
    };
    for orphan in orphans {
        match store_missing(store, &orphan.events).await {
            Ok(stored) => {
                tracing::info!(
                    stored,
                    spooled = orphan.events.len(),
                    "stored audit events a stopped process had spooled"
                );
                if let Err(err) = orphan.remove() {
                    tracing::warn!(error = %err, "a replayed spool could not be removed");
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "a spool left by a stopped process could not be stored; kept for the next start")
            }
        }
    }
}

async fn store_missing(store: &Store, spooled: &[AuditEvent]) -> Result<usize, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    // Lock the chain first, so the check and the append see the same log.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let mut present = HashSet::new();
    for chunk in spooled.chunks(500) {
        let sql = format!(
            "SELECT event_id FROM audit_log WHERE event_id IN ({})",
            qcat_store::placeholders::list(1, chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query.bind(event.id.clone().unwrap_or_default());
        }
        present.extend(query.fetch_all(&mut *tx).await?);
    }
    let missing: Vec<AuditEvent> = spooled
        .iter()
        .filter(|event| event.id.as_ref().is_none_or(|id| !present.contains(id)))
        .cloned()
        .collect();
    let entries = chain::append(&mut tx, &missing).await?;
    tx.commit().await?;
    crate::mirror::committed(&entries);
    Ok(missing.len())
}
