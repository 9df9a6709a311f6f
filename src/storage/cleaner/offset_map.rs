//! [`OffsetMap`]: key -> latest offset over a cleaning's dirty section.

use std::collections::HashMap;

/// Bytes counted per entry besides the key: the offset and the table's own overhead.
const ENTRY_OVERHEAD: usize = 48;

/// The latest offset of each key seen, with a memory budget. Kafka's
/// `SkimpyOffsetMap` stores a 16-byte hash per key; this keeps the keys themselves
/// (exact, no collisions) and counts their bytes against the budget instead.
#[derive(Debug, Default)]
pub(crate) struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    bytes: usize,
    budget: usize,
}

impl OffsetMap {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// Records `offset` for `key` (offsets arrive in increasing order).
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) {
        match self.map.get_mut(key) {
            Some(latest) => *latest = (*latest).max(offset),
            None => {
                self.bytes += key.len() + ENTRY_OVERHEAD;
                self.map.insert(key.into(), offset);
            }
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map has used up its memory budget.
    pub(crate) fn is_full(&self) -> bool {
        self.bytes >= self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_map_keeps_the_latest_offset_and_counts_its_bytes() {
        let mut m = OffsetMap::new(3 * (ENTRY_OVERHEAD + 2));
        m.put(b"k1", 1);
        m.put(b"k1", 5);
        m.put(b"k2", 3);
        assert_eq!(
            (m.get(b"k1"), m.get(b"k2"), m.get(b"k3")),
            (Some(5), Some(3), None)
        );
        assert_eq!(m.len(), 2);
        assert!(!m.is_full());
        m.put(b"k3", 9);
        assert!(m.is_full());
    }
}
