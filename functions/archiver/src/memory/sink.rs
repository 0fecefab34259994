//! An in-memory sink for the messages the archiver sends out (follow-up alerts, hand-off
//! events): records every one it accepted, and can be told to fail the next few.

use std::sync::{Arc, Mutex};

use super::lock;

/// What was sent, and how often sending was tried.
#[derive(Debug)]
pub struct MemorySink<T> {
    state: Arc<Mutex<SinkState<T>>>,
}

#[derive(Debug)]
struct SinkState<T> {
    sent: Vec<T>,
    failures_left: usize,
    attempts: usize,
}

impl<T: Clone> MemorySink<T> {
    /// A sink that accepts everything.
    pub fn new() -> Self {
        MemorySink {
            state: Arc::new(Mutex::new(SinkState {
                sent: Vec::new(),
                failures_left: 0,
                attempts: 0,
            })),
        }
    }

    /// The next `count` sends fail (and are not recorded).
    pub fn fail_next(&self, count: usize) {
        lock(&self.state).failures_left = count;
    }

    /// What was accepted so far, in order.
    pub fn sent(&self) -> Vec<T> {
        lock(&self.state).sent.clone()
    }

    /// Every send, failed ones included.
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }

    /// One send: true when `item` was accepted, false when this one was told to fail.
    pub(crate) fn accept(&self, item: &T) -> bool {
        let mut state = lock(&self.state);
        state.attempts += 1;
        if state.failures_left > 0 {
            state.failures_left -= 1;
            return false;
        }
        state.sent.push(item.clone());
        true
    }
}

impl<T: Clone> Default for MemorySink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for MemorySink<T> {
    fn clone(&self) -> Self {
        MemorySink {
            state: Arc::clone(&self.state),
        }
    }
}
