//! The right edge of the tree — one complete subtree per set bit of the size — which is all
//! the collector needs in memory to append leaves and compute the root. It never holds the
//! whole tree: the store keeps the finished subtrees for proofs.

use super::{empty_root, node_hash, Hash, NodeId};

/// The complete subtrees along the right edge of a tree, largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(NodeId, Hash)>,
}

/// A frontier could not be rebuilt from stored nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the frontier of a tree of size {size} needs {expected} nodes, {found} were given")]
pub struct FrontierError {
    size: u64,
    expected: usize,
    found: usize,
}

impl Frontier {
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf. Every subtree this completes — the leaf itself, then each parent it
    /// finishes — is pushed to `completed`, so the caller can store them.
    pub fn push(&mut self, leaf: Hash, completed: &mut Vec<(NodeId, Hash)>) {
        let id = NodeId::leaf(self.size);
        self.size += 1;
        completed.push((id, leaf));
        self.nodes.push((id, leaf));
        while let [.., (left_id, left), (right_id, right)] = self.nodes[..] {
            if left_id.level != right_id.level {
                break;
            }
            let parent = (
                NodeId {
                    level: left_id.level + 1,
                    index: left_id.index / 2,
                },
                node_hash(&left, &right),
            );
            self.nodes.truncate(self.nodes.len() - 2);
            completed.push(parent);
            self.nodes.push(parent);
        }
    }

    /// The RFC 6962 root hash of the tree so far.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some((_, last)) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*last, |right, (_, left)| node_hash(left, &right))
    }

    /// Which stored nodes make up the frontier of a tree of `size`, largest first.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        let mut offset = 0u64;
        let mut ids = Vec::new();
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                ids.push(NodeId {
                    level,
                    index: offset >> level,
                });
                offset += 1 << level;
            }
        }
        ids
    }

    /// Rebuilds the frontier of a tree of `size` from the hashes of [`Frontier::node_ids`],
    /// in the same order.
    pub fn from_hashes(size: u64, hashes: Vec<Hash>) -> Result<Frontier, FrontierError> {
        let ids = Frontier::node_ids(size);
        if ids.len() != hashes.len() {
            return Err(FrontierError {
                size,
                expected: ids.len(),
                found: hashes.len(),
            });
        }
        Ok(Frontier {
            size,
            nodes: ids.into_iter().zip(hashes).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{reference_root, vectors};
    use super::*;

    #[test]
    fn roots_match_the_published_vectors_at_every_size() {
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        let mut completed = Vec::new();
        for (leaf, root) in vectors::leaves().into_iter().zip(vectors::ROOTS) {
            frontier.push(leaf, &mut completed);
            assert_eq!(
                frontier.root(),
                vectors::hex(root),
                "size {}",
                frontier.size()
            );
        }
    }

    #[test]
    fn reports_every_completed_subtree_once() {
        let mut frontier = Frontier::default();
        let mut completed = Vec::new();
        for i in 0..8u8 {
            frontier.push([i; 32], &mut completed);
        }
        // 8 leaves, 4 + 2 + 1 parents.
        assert_eq!(completed.len(), 15);
        let leaves: Vec<Hash> = (0..8u8).map(|i| [i; 32]).collect();
        assert!(completed.contains(&(NodeId { level: 3, index: 0 }, reference_root(&leaves))));
        assert!(completed.contains(&(NodeId { level: 1, index: 3 }, reference_root(&leaves[6..8]))));
    }

    #[test]
    fn rebuilds_from_stored_nodes() {
        let mut frontier = Frontier::default();
        let mut completed = Vec::new();
        for i in 0..13u8 {
            frontier.push([i; 32], &mut completed);
        }
        let ids = Frontier::node_ids(13);
        assert_eq!(
            ids,
            vec![
                NodeId { level: 3, index: 0 },
                NodeId { level: 2, index: 2 },
                NodeId {
                    level: 0,
                    index: 12
                }
            ]
        );
        let hashes = ids
            .iter()
            .map(|id| completed.iter().find(|(c, _)| c == id).unwrap().1)
            .collect();
        let rebuilt = Frontier::from_hashes(13, hashes).unwrap();
        assert_eq!(rebuilt, frontier);
        assert_eq!(
            Frontier::from_hashes(13, vec![]).unwrap_err().to_string(),
            "the frontier of a tree of size 13 needs 3 nodes, 0 were given"
        );
    }
}
