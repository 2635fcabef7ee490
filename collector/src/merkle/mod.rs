//! The RFC 6962 Merkle tree over the audit log: hashing, the append frontier the collector
//! keeps in memory, and inclusion and consistency proofs (made from stored nodes, checked
//! offline by `verify`).
//!
//! Pure: no I/O. The store keeps every complete subtree's hash under its [`NodeId`], which is
//! all a proof for any earlier tree size ever needs.

pub mod frontier;
pub mod proof;

use sha2::{Digest, Sha256};

pub use frontier::Frontier;
pub use proof::{
    consistency_plan, inclusion_plan, verify_consistency, verify_inclusion, ProofError, ProofPlan,
};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of one leaf (RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete subtree: the `index`-th run of `2^level` leaves, i.e. leaves
/// `[index << level, (index + 1) << level)`. Level 0 is a single leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u32,
    /// Position among the subtrees of that height, from the left.
    pub index: u64,
}

/// Level bits in a [`NodeId::key`]: leaves up to 2^48 per log, which no audit log reaches.
const KEY_LEVEL_SHIFT: u32 = 48;

impl NodeId {
    /// A leaf.
    pub fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// One integer naming the node, for the store's primary key: `level << 48 | index`.
    pub fn key(self) -> i64 {
        // Both parts are bounded (level ≤ 48, index < 2^48), so this never overflows i64.
        ((u64::from(self.level) << KEY_LEVEL_SHIFT) | self.index) as i64
    }

    /// The node a [`key`](Self::key) names.
    pub fn from_key(key: i64) -> NodeId {
        let key = key as u64;
        NodeId {
            level: (key >> KEY_LEVEL_SHIFT) as u32,
            index: key & ((1 << KEY_LEVEL_SHIFT) - 1),
        }
    }
}

/// Largest power of two strictly less than `n` (n ≥ 2), the split point of RFC 6962's MTH.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of a tree over `leaves`, computed directly from RFC 6962's definition; the
/// reference the faster code is tested against.
#[cfg(test)]
pub(crate) fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

#[cfg(test)]
pub(crate) mod vectors {
    //! The RFC 6962 test tree used by the Certificate Transparency and transparency-dev
    //! implementations: eight leaves and the root at every size.

    use super::{leaf_hash, Hash};

    pub fn hex(text: &str) -> Hash {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    pub fn leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    /// Root at size `i + 1`.
    pub const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_roots_match_the_published_vectors() {
        let leaves = vectors::leaves();
        for (size, root) in vectors::ROOTS.iter().enumerate() {
            assert_eq!(
                reference_root(&leaves[..=size]),
                vectors::hex(root),
                "size {}",
                size + 1
            );
        }
        assert_eq!(
            empty_root(),
            vectors::hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!([2, 3, 4, 5, 8, 9].map(split_point), [1, 2, 2, 4, 4, 8]);
    }

    #[test]
    fn node_keys_round_trip() {
        for node in [
            NodeId { level: 0, index: 0 },
            NodeId {
                level: 3,
                index: 12345,
            },
            NodeId {
                level: 47,
                index: 1,
            },
        ] {
            assert_eq!(NodeId::from_key(node.key()), node);
        }
    }
}
