//! The live event bus: the core publishes typed events, front ends subscribe. Events are
//! namespaced by their topic (`access://changed`, `jobs://progress`, `tasks://health`) and
//! delivered in batches when hot, so a burst costs the window one message, not hundreds.

use std::time::Duration;

use tokio::sync::broadcast;

/// Events a slow subscriber may fall behind by before it is told to resynchronise.
const CAPACITY: usize = 4096;

/// A bus of events of type `E`. Cheap to clone; publishing never waits.
#[derive(Clone)]
pub struct EventBus<E: Clone> {
    sender: broadcast::Sender<E>,
}

impl<E: Clone + Send + 'static> Default for EventBus<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery<E> {
    Events(Vec<E>),
    /// The subscriber fell this many events behind and they were dropped: it should reload
    /// what it shows.
    Lagged(u64),
}

impl<E: Clone + Send + 'static> EventBus<E> {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender }
    }

    /// Sends `event` to every subscriber (none: dropped).
    pub fn publish(&self, event: E) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> Subscription<E> {
        Subscription {
            receiver: self.sender.subscribe(),
        }
    }

    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// One subscriber's end of the bus.
pub struct Subscription<E: Clone> {
    receiver: broadcast::Receiver<E>,
}

impl<E: Clone + Send + 'static> Subscription<E> {
    /// Waits for the next event, then takes whatever else arrives within `window` (at most
    /// `max`). None when the bus is gone.
    pub async fn next_batch(&mut self, window: Duration, max: usize) -> Option<Delivery<E>> {
        let first = match self.receiver.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                return Some(Delivery::Lagged(missed));
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, self.receiver.recv()).await {
                Ok(Ok(event)) => batch.push(event),
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    return Some(Delivery::Lagged(missed));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
        Some(Delivery::Events(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_arrives_as_one_batch() {
        let bus = EventBus::new();
        let mut subscription = bus.subscribe();
        for n in 0..50 {
            bus.publish(n);
        }
        let delivery = subscription
            .next_batch(Duration::from_millis(20), 1000)
            .await;
        assert_eq!(delivery, Some(Delivery::Events((0..50).collect())));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_reload() {
        let bus = EventBus::new();
        let mut subscription = bus.subscribe();
        for n in 0..(CAPACITY as u64 + 10) {
            bus.publish(n);
        }
        let delivery = subscription.next_batch(Duration::from_millis(1), 10).await;
        assert_eq!(delivery, Some(Delivery::Lagged(10)));
    }
}
