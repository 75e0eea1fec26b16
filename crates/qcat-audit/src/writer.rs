//! The batching writer: events that are not part of a store transaction (sign-ins,
//! denials, config file and secret changes) are queued here and appended in batches.
//!
//! A batch is written when it holds `batch_size` events, when `batch_timeout` has passed
//! since its first event, or at once when any event in it has a waiting caller
//! ([`AuditWriter::record`]): callers that must not report an action done before its entry
//! is durable get group commit instead of a five-second wait. With `async_mode` off every
//! event is written that way.

use std::time::Duration;

use qcat_store::Store;
use tokio::sync::{mpsc, oneshot};

use crate::event::AuditEvent;
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
    Event(Box<AuditEvent>, Option<Reply>),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    sender: mpsc::UnboundedSender<Request>,
    options: WriterOptions,
}

/// Attempts per batch before waiting callers are told it failed.
const ATTEMPTS: u32 = 5;

impl AuditWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Store, options: WriterOptions) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, options, receiver));
        Self { sender, options }
    }

    /// Appends `event` and returns its sequence number once it is durable.
    pub async fn record(&self, event: AuditEvent) -> Result<i64, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Event(Box::new(event), Some(reply)))
            .map_err(|_| AuditError::WriterStopped)?;
        match answer.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(message)) => Err(AuditError::NotRecorded(message)),
            Err(_) => Err(AuditError::WriterStopped),
        }
    }

    /// Queues `event`; with `async_mode` the caller does not wait for it, otherwise this is
    /// [`AuditWriter::record`].
    pub async fn submit(&self, event: AuditEvent) -> Result<(), AuditError> {
        if self.options.async_mode {
            self.sender
                .send(Request::Event(Box::new(event), None))
                .map_err(|_| AuditError::WriterStopped)
        } else {
            self.record(event).await.map(drop)
        }
    }

    /// Waits until everything queued so far is written (shutdown, tests, `audit verify`).
    pub async fn flush(&self) -> Result<(), AuditError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request::Flush(reply))
            .map_err(|_| AuditError::WriterStopped)?;
        answer.await.map_err(|_| AuditError::WriterStopped)
    }
}

async fn run(store: Store, options: WriterOptions, mut receiver: mpsc::UnboundedReceiver<Request>) {
    let batch_size = options.batch_size.max(1);
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::with_capacity(batch_size);
        let mut flushes = Vec::new();
        let mut urgent = false;
        let deadline = tokio::time::Instant::now() + options.batch_timeout;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Request::Event(event, reply)) => {
                    urgent |= reply.is_some();
                    batch.push((*event, reply));
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
            if urgent {
                break;
            }
            tokio::select! {
                request = receiver.recv() => match request {
                    Some(request) => next = Some(request),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        write_batch(&store, batch).await;
        for flush in flushes {
            let _ = flush.send(());
        }
    }
}

async fn write_batch(store: &Store, batch: Vec<(AuditEvent, Option<Reply>)>) {
    if batch.is_empty() {
        return;
    }
    let events: Vec<AuditEvent> = batch.iter().map(|(event, _)| event.clone()).collect();
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
            for ((_, reply), seq) in batch.into_iter().zip(seqs) {
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(seq));
                }
            }
        }
        Err(err) => {
            let actions: Vec<&str> = events.iter().map(|event| event.action.as_str()).collect();
            tracing::error!(error = %err, ?actions, "audit batch lost after {ATTEMPTS} attempts");
            for (_, reply) in batch {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(err.to_string()));
                }
            }
        }
    }
}

async fn append_committed(store: &Store, events: &[AuditEvent]) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let entries = chain::append(&mut tx, events).await?;
    tx.commit().await?;
    Ok(entries.into_iter().map(|entry| entry.seq).collect())
}
