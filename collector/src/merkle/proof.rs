//! Inclusion and consistency proofs (RFC 6962 §2.1.1–2.1.2), made and checked.
//!
//! Making a proof is split in two so the store can fetch what it needs in one round trip:
//! a [`ProofPlan`] names the stored complete subtrees each proof element is built from, and
//! [`ProofPlan::assemble`] folds their hashes once they are fetched. Checking follows
//! RFC 9162 §2.1.3.2 and §2.1.4.2, and never needs anything but the proof and the roots.

use std::collections::HashMap;

use super::{node_hash, split_point, Hash, NodeId};

/// Why a proof was not made or did not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Asked to prove a leaf the tree does not have.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the tree shrank from size {old} to {new}")]
    TreeShrank {
        /// The earlier size.
        old: u64,
        /// The later size.
        new: u64,
    },
    /// The proof has more or fewer hashes than the sizes call for.
    #[error("the proof has {found} hashes where {expected} were expected")]
    WrongLength {
        /// The number the sizes call for.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// The proof leads to a different root.
    #[error("the proof leads to a different root hash")]
    RootMismatch,
    /// A consistency proof that does not lead to the earlier root.
    #[error("the proof does not lead to the earlier tree's root hash")]
    OldRootMismatch,
    /// A consistency proof that does not lead to the later root.
    #[error("the proof does not lead to the later tree's root hash")]
    NewRootMismatch,
    /// Two trees of the same size with different roots.
    #[error("two trees of the same size have different root hashes")]
    SameSizeDifferentRoots,
    /// The store lacks a node a proof needs.
    #[error("stored tree node (level {}, index {}) is missing", .0.level, .0.index)]
    MissingNode(NodeId),
}

/// The stored subtrees each element of a proof is built from, in proof order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProofPlan {
    elements: Vec<Vec<NodeId>>,
}

impl ProofPlan {
    /// Every node the proof needs (possibly repeated).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.elements.iter().flatten().copied()
    }

    /// Number of hashes in the proof.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the proof is empty.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The proof, from the fetched node hashes.
    pub fn assemble(&self, nodes: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, ProofError> {
        self.elements
            .iter()
            .map(|parts| {
                let mut hashes = parts
                    .iter()
                    .rev()
                    .map(|id| nodes.get(id).copied().ok_or(ProofError::MissingNode(*id)));
                let last = hashes.next().ok_or(ProofError::RootMismatch)??;
                hashes.try_fold(last, |right, left| Ok(node_hash(&left?, &right)))
            })
            .collect()
    }

    fn push_subtree(&mut self, start: u64, end: u64) {
        self.elements.push(subtree_nodes(start, end));
    }
}

/// The complete subtrees whose right fold is MTH(D[start:end]). `start` is aligned to the
/// smallest power of two ≥ `end - start`, as every subtree in RFC 6962's recursion is.
fn subtree_nodes(mut start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    while start < end {
        let len = end - start;
        let take = if len.is_power_of_two() {
            len
        } else {
            split_point(len)
        };
        let level = take.trailing_zeros();
        nodes.push(NodeId {
            level,
            index: start >> level,
        });
        start += take;
    }
    nodes
}

/// What proves leaf `index` is in the tree of `size` (RFC 6962 `PATH`).
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    fn path(m: u64, start: u64, end: u64, plan: &mut ProofPlan) {
        let len = end - start;
        if len <= 1 {
            return;
        }
        let k = split_point(len);
        if m < k {
            path(m, start, start + k, plan);
            plan.push_subtree(start + k, end);
        } else {
            path(m - k, start + k, end, plan);
            plan.push_subtree(start, start + k);
        }
    }
    let mut plan = ProofPlan::default();
    path(index, 0, size, &mut plan);
    Ok(plan)
}

/// What proves the tree of `old` leaves is a prefix of the tree of `new` (RFC 6962 `PROOF`).
pub fn consistency_plan(old: u64, new: u64) -> Result<ProofPlan, ProofError> {
    if old > new {
        return Err(ProofError::TreeShrank { old, new });
    }
    fn subproof(m: u64, start: u64, end: u64, whole: bool, plan: &mut ProofPlan) {
        let len = end - start;
        if m == len {
            if !whole {
                plan.push_subtree(start, end);
            }
            return;
        }
        let k = split_point(len);
        if m <= k {
            subproof(m, start, start + k, whole, plan);
            plan.push_subtree(start + k, end);
        } else {
            subproof(m - k, start + k, end, false, plan);
            plan.push_subtree(start, start + k);
        }
    }
    let mut plan = ProofPlan::default();
    if old > 0 && old < new {
        subproof(old, 0, new, true, &mut plan);
    }
    Ok(plan)
}

/// Checks that `leaf` is at `index` in the tree of `size` whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::TreeShrank { old, new });
    }
    let expected = consistency_proof_len(old, new);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::SameSizeDifferentRoots)
        };
    }
    if old == 0 {
        return Ok(());
    }
    // When the old tree is a complete subtree its root is the proof's implicit first node.
    let mut path = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength {
                expected,
                found: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

fn inclusion_proof_len(index: u64, size: u64) -> usize {
    inclusion_plan(index, size).map_or(0, |plan| plan.len())
}

fn consistency_proof_len(old: u64, new: u64) -> usize {
    consistency_plan(old, new).map_or(0, |plan| plan.len())
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_hash, reference_root, vectors, Frontier};
    use super::*;

    /// A tree of `n` leaves with every complete subtree stored, as the collector stores them.
    fn stored_tree(n: u64) -> (Vec<Hash>, HashMap<NodeId, Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::default();
        let mut completed = Vec::new();
        for leaf in &leaves {
            frontier.push(*leaf, &mut completed);
        }
        (leaves, completed.into_iter().collect())
    }

    #[test]
    fn inclusion_proofs_match_the_published_vectors() {
        let leaves = vectors::leaves();
        let nodes: HashMap<NodeId, Hash> = {
            let mut frontier = Frontier::default();
            let mut completed = Vec::new();
            for leaf in &leaves {
                frontier.push(*leaf, &mut completed);
            }
            completed.into_iter().collect()
        };
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_plan(index, size)
                .unwrap()
                .assemble(&nodes)
                .unwrap();
            let expected: Vec<Hash> = expected.iter().map(|h| vectors::hex(h)).collect();
            assert_eq!(proof, expected, "leaf {index} of {size}");
            let root = vectors::hex(vectors::ROOTS[size as usize - 1]);
            verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_published_vectors() {
        let nodes: HashMap<NodeId, Hash> = {
            let mut frontier = Frontier::default();
            let mut completed = Vec::new();
            for leaf in vectors::leaves() {
                frontier.push(leaf, &mut completed);
            }
            completed.into_iter().collect()
        };
        let cases: [(u64, u64, &[&str]); 4] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                7,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (old, new, expected) in cases {
            let proof = consistency_plan(old, new)
                .unwrap()
                .assemble(&nodes)
                .unwrap();
            let expected: Vec<Hash> = expected.iter().map(|h| vectors::hex(h)).collect();
            assert_eq!(proof, expected, "{old} → {new}");
            let old_root = vectors::hex(vectors::ROOTS[old as usize - 1]);
            let new_root = vectors::hex(vectors::ROOTS[new as usize - 1]);
            verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
        }
    }

    #[test]
    fn every_inclusion_proof_checks_and_no_corruption_does() {
        for size in 1..=33u64 {
            let (leaves, nodes) = stored_tree(size);
            let root = reference_root(&leaves);
            for index in 0..size {
                let proof = inclusion_plan(index, size)
                    .unwrap()
                    .assemble(&nodes)
                    .unwrap();
                let leaf = &leaves[index as usize];
                verify_inclusion(index, size, leaf, &proof, &root).unwrap();
                assert!(verify_inclusion(index, size, &[7; 32], &proof, &root).is_err());
                assert!(verify_inclusion(index, size * 2, leaf, &proof, &root).is_err());
                if index + 1 < size {
                    assert!(verify_inclusion(index + 1, size, leaf, &proof, &root).is_err());
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 8;
                    assert_eq!(
                        verify_inclusion(index, size, leaf, &bad, &root),
                        Err(ProofError::RootMismatch)
                    );
                }
                let mut long = proof.clone();
                long.push(root);
                assert!(verify_inclusion(index, size, leaf, &long, &root).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_checks_and_no_corruption_does() {
        let (leaves, nodes) = stored_tree(33);
        for new in 1..=33u64 {
            let new_root = reference_root(&leaves[..new as usize]);
            for old in 1..=new {
                let old_root = reference_root(&leaves[..old as usize]);
                let proof = consistency_plan(old, new)
                    .unwrap()
                    .assemble(&nodes)
                    .unwrap();
                verify_consistency(old, new, &proof, &old_root, &new_root).unwrap();
                if old < new {
                    assert!(verify_consistency(old, new, &proof, &new_root, &new_root).is_err());
                    assert!(verify_consistency(old, new, &proof, &old_root, &old_root).is_err());
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][0] ^= 16;
                        assert!(
                            verify_consistency(old, new, &bad, &old_root, &new_root).is_err(),
                            "{old} → {new}, element {i}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_impossible_sizes() {
        assert_eq!(
            inclusion_plan(3, 3).unwrap_err(),
            ProofError::IndexOutOfRange { index: 3, size: 3 }
        );
        assert_eq!(
            consistency_plan(4, 3).unwrap_err(),
            ProofError::TreeShrank { old: 4, new: 3 }
        );
        assert_eq!(
            verify_consistency(4, 3, &[], &[0; 32], &[0; 32])
                .unwrap_err()
                .to_string(),
            "the tree shrank from size 4 to 3"
        );
        assert_eq!(
            verify_consistency(3, 3, &[], &[0; 32], &[1; 32]).unwrap_err(),
            ProofError::SameSizeDifferentRoots
        );
    }
}
