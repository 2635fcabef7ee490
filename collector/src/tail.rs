//! Following the log live: every record the writer commits is offered to the tail clients
//! (`GET /v1/tail`) through one bounded broadcast ring. Memory is bounded by the ring, never
//! by a client: a client that falls more than [`TAIL_RING`] records behind is dropped with a
//! message saying so, instead of the collector holding what it has not read. Nothing is
//! published (not even copied) while nobody tails.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::RecordRow;

/// Records a tail client may be behind before it is dropped.
pub const TAIL_RING: usize = 4096;

/// One committed record, as tail clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailEntry {
    /// Position in the log.
    pub leaf_index: u64,
    /// `allow`, `deny` or `guard`.
    pub decision: &'static str,
    /// Subject, for the client's filter.
    pub subject: Option<String>,
    /// Grant, for the client's filter.
    pub grant_id: Option<String>,
    /// The canonical OTLP JSON record.
    pub canonical: String,
}

impl From<RecordRow> for TailEntry {
    fn from(row: RecordRow) -> TailEntry {
        TailEntry {
            leaf_index: row.leaf_index,
            decision: row.decision,
            subject: row.subject,
            grant_id: row.grant_id,
            canonical: row.canonical,
        }
    }
}

/// The broadcast ring.
#[derive(Debug)]
pub struct TailHub {
    sender: broadcast::Sender<Arc<TailEntry>>,
}

impl Default for TailHub {
    fn default() -> Self {
        TailHub {
            sender: broadcast::channel(TAIL_RING).0,
        }
    }
}

impl TailHub {
    /// Whether any client is following.
    pub fn is_watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Offers a committed record to every client.
    pub fn publish(&self, entry: TailEntry) {
        // No receiver left since `is_watched`: nothing to do.
        let _ = self.sender.send(Arc::new(entry));
    }

    /// A new client, seeing records committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailEntry>> {
        self.sender.subscribe()
    }
}
