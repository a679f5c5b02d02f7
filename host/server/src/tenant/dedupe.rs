//! Repeated deliveries: 8x8 may post an event again (a timeout, a retry); the tenant's
//! plugin must act once and the platform get the same answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;

/// A bounded map from delivery key to the answer given, so a repeated delivery gets the
/// same answer and the plugin acts once. Concurrent deliveries of one key share a cell:
/// the first runs the plugin, the others wait for its answer.
#[derive(Debug)]
pub struct Deliveries {
    inner: Mutex<DeliveriesInner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct DeliveriesInner {
    cells: HashMap<String, Arc<OnceCell<Bytes>>>,
    order: VecDeque<String>,
}

impl Deliveries {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// The cell for `key`, created (evicting the oldest key beyond capacity) if new.
    pub fn cell(&self, key: &str) -> Arc<OnceCell<Bytes>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = inner.cells.get(key) {
            return Arc::clone(cell);
        }
        let cell = Arc::new(OnceCell::new());
        inner.cells.insert(key.to_owned(), Arc::clone(&cell));
        inner.order.push_back(key.to_owned());
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.cells.remove(&old);
            }
        }
        cell
    }
}
