//! Which sequence numbers each stream has delivered, so the collector can tell a replay from
//! a new record without a database round trip and report the holes (gaps) in every stream.
//!
//! Streams deliver mostly in order, so each is kept as a few runs of consecutive numbers:
//! memory grows with the number of gaps, not of records.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// The sequence numbers one stream has delivered, as runs `start ..= end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceSet {
    runs: BTreeMap<u64, u64>,
    count: u64,
}

/// A run of missing sequence numbers, `from ..= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// First missing.
    pub from: u64,
    /// Last missing.
    pub to: u64,
}

impl Gap {
    /// How many numbers are missing.
    pub fn len(&self) -> u64 {
        self.to - self.from + 1
    }

    /// Never true; a gap has at least one number.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

impl SequenceSet {
    /// Whether `sequence` was delivered.
    pub fn contains(&self, sequence: u64) -> bool {
        self.runs
            .range(..=sequence)
            .next_back()
            .is_some_and(|(_, &end)| sequence <= end)
    }

    /// Records `sequence`; false if it was already there.
    pub fn insert(&mut self, sequence: u64) -> bool {
        self.insert_run(sequence, sequence) == 1
    }

    /// Records `start ..= end`; returns how many of them were new.
    pub fn insert_run(&mut self, start: u64, end: u64) -> u64 {
        let mut added = 0;
        let mut next = start;
        while next <= end {
            if self.contains(next) {
                // Skip to the end of the run that holds it.
                let run_end = self
                    .runs
                    .range(..=next)
                    .next_back()
                    .map_or(next, |(_, &e)| e);
                match run_end.checked_add(1) {
                    Some(after) => next = after,
                    None => break,
                }
                continue;
            }
            // Fill up to the next run or `end`.
            let stop = self
                .runs
                .range(next..)
                .next()
                .map_or(end, |(&s, _)| end.min(s - 1));
            added += stop - next + 1;
            self.merge(next, stop);
            match stop.checked_add(1) {
                Some(after) => next = after,
                None => break,
            }
        }
        self.count += added;
        added
    }

    fn merge(&mut self, mut start: u64, mut end: u64) {
        if let Some((&s, &e)) = self.runs.range(..start).next_back() {
            if e.checked_add(1) == Some(start) {
                self.runs.remove(&s);
                start = s;
            }
        }
        if let Some(after) = end.checked_add(1) {
            if let Some(e) = self.runs.remove(&after) {
                end = e;
            }
        }
        self.runs.insert(start, end);
    }

    /// Highest delivered, if any.
    pub fn highest(&self) -> Option<u64> {
        self.runs.values().next_back().copied()
    }

    /// How many delivered.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The holes between 1 and the highest delivered.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let mut expected = 1u64;
        for (&start, &end) in &self.runs {
            if start > expected {
                gaps.push(Gap {
                    from: expected,
                    to: start - 1,
                });
            }
            expected = end.saturating_add(1);
        }
        gaps
    }
}

/// One stream's delivery, as `GET /v1/streams` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSummary {
    /// The stream.
    pub stream_id: String,
    /// Highest sequence number stored.
    pub highest_sequence: u64,
    /// Records stored.
    pub count: u64,
    /// Sequence numbers missing below the highest.
    pub missing: u64,
    /// The holes.
    pub gaps: Vec<Gap>,
}

/// Every stream's delivered sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct StreamIndex {
    streams: HashMap<String, SequenceSet>,
}

impl StreamIndex {
    /// Whether `(stream, sequence)` is stored.
    pub fn contains(&self, stream: &str, sequence: u64) -> bool {
        self.streams
            .get(stream)
            .is_some_and(|set| set.contains(sequence))
    }

    /// Records one delivery.
    pub fn insert(&mut self, stream: &str, sequence: u64) {
        match self.streams.get_mut(stream) {
            Some(set) => {
                set.insert(sequence);
            }
            None => {
                let mut set = SequenceSet::default();
                set.insert(sequence);
                self.streams.insert(stream.to_owned(), set);
            }
        }
    }

    /// Records a run loaded from the store.
    pub fn insert_run(&mut self, stream: &str, start: u64, end: u64) {
        self.streams
            .entry(stream.to_owned())
            .or_default()
            .insert_run(start, end);
    }

    /// Every stream, sorted by id.
    pub fn summaries(&self) -> Vec<StreamSummary> {
        let mut summaries: Vec<StreamSummary> = self
            .streams
            .iter()
            .map(|(id, set)| {
                let gaps = set.gaps();
                StreamSummary {
                    stream_id: id.clone(),
                    highest_sequence: set.highest().unwrap_or(0),
                    count: set.count(),
                    missing: gaps.iter().map(Gap::len).sum(),
                    gaps,
                }
            })
            .collect();
        summaries.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
        summaries
    }

    /// Totals for metrics: (streams, streams with gaps, missing sequence numbers).
    pub fn totals(&self) -> (u64, u64, u64) {
        let mut with_gaps = 0;
        let mut missing = 0;
        for set in self.streams.values() {
            let gaps = set.gaps();
            if !gaps.is_empty() {
                with_gaps += 1;
                missing += gaps.iter().map(Gap::len).sum::<u64>();
            }
        }
        (self.streams.len() as u64, with_gaps, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_runs_and_reports_gaps() {
        let mut set = SequenceSet::default();
        for sequence in [1, 2, 3, 7, 5, 9, 8] {
            assert!(set.insert(sequence));
        }
        assert!(!set.insert(2));
        assert_eq!(set.count(), 7);
        assert_eq!(set.highest(), Some(9));
        assert_eq!(
            set.gaps(),
            vec![Gap { from: 4, to: 4 }, Gap { from: 6, to: 6 }]
        );
        assert!(set.insert(4));
        assert!(set.insert(6));
        assert!(set.gaps().is_empty());
        assert_eq!(set.runs.len(), 1);
    }

    #[test]
    fn a_stream_that_starts_late_has_a_gap_from_one() {
        let mut set = SequenceSet::default();
        set.insert_run(10, 12);
        assert_eq!(set.gaps(), vec![Gap { from: 1, to: 9 }]);
        assert_eq!(Gap { from: 1, to: 9 }.to_string(), "1-9");
    }

    #[test]
    fn overlapping_runs_count_once() {
        let mut set = SequenceSet::default();
        assert_eq!(set.insert_run(1, 5), 5);
        assert_eq!(set.insert_run(4, 8), 3);
        assert_eq!(set.insert_run(10, 10), 1);
        assert_eq!(set.insert_run(1, 12), 3);
        assert_eq!(set.count(), 12);
        assert!(set.gaps().is_empty());
    }

    #[test]
    fn summaries_are_sorted_and_totalled() {
        let mut index = StreamIndex::default();
        index.insert("b", 1);
        index.insert("b", 3);
        index.insert("a", 1);
        let summaries = index.summaries();
        assert_eq!(summaries[0].stream_id, "a");
        assert_eq!(summaries[1].missing, 1);
        assert_eq!(index.totals(), (2, 1, 1));
        assert!(index.contains("b", 3));
        assert!(!index.contains("b", 2));
    }
}
