//! Ed25519 signature verification (RFC 8032) with a table precomputed once per key.
//!
//! A gateway trusts a handful of keys and verifies the same few over and over, so each key
//! is decompressed once, when it is loaded, and its negation expanded into a radix-16 table
//! of multiples (the same layout as the base point's own table, about 30 KB per key). A
//! verification is then two fixed-base multiplications — `[s]B` from the base point's table,
//! `[k](−A)` from the key's — a SHA-512 and one compression, with no point decompression and
//! no doublings for `A`. In Envoy's V8 this took a fresh-token verification from about
//! 300 µs (`ed25519-compact`, which decompresses `A` and `R` and runs a double-scalar ladder
//! every time) to about 80–100 µs (`bench/ed25519-wasm` under Node; docs/benchmarks.md).
//!
//! The check is RFC 8032's cofactorless one: `s` must be canonical (`s < ℓ`), and the
//! encoding of `[s]B − [k]A` must equal the signature's `R` byte for byte (so a
//! non-canonical `R` fails too). Keys of small order are refused when loaded: no honest
//! issuer has one, and with one a signature would not bind the message.

use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTable, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::BasepointTable;
use sha2::{Digest, Sha512};

/// Why a public key cannot verify anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ed25519KeyError {
    /// Not the encoding of a curve point.
    NotAPoint,
    /// A point of small order (the identity or a torsion point).
    SmallOrder,
}

/// A public key, decompressed and expanded for verification.
pub struct Ed25519Verifier {
    encoded: [u8; 32],
    minus_a: EdwardsBasepointTable,
}

impl std::fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Verifier")
            .field("encoded", &self.encoded)
            .finish_non_exhaustive()
    }
}

impl Ed25519Verifier {
    /// Decompresses `encoded` and builds its table (a few hundred point additions, once).
    pub fn new(encoded: [u8; 32]) -> Result<Ed25519Verifier, Ed25519KeyError> {
        let point = CompressedEdwardsY(encoded)
            .decompress()
            .ok_or(Ed25519KeyError::NotAPoint)?;
        if point.is_small_order() {
            return Err(Ed25519KeyError::SmallOrder);
        }
        let minus_a: EdwardsPoint = -point;
        Ok(Ed25519Verifier {
            encoded,
            minus_a: EdwardsBasepointTable::create(&minus_a),
        })
    }

    /// The key's 32-byte encoding.
    pub fn encoded(&self) -> &[u8; 32] {
        &self.encoded
    }

    /// Whether `signature` (`R ‖ s`, 64 bytes) is this key's signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let (r, s) = signature.split_at(32);
        let Ok(s) = <[u8; 32]>::try_from(s) else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
            return false;
        };
        let mut hash = Sha512::new();
        hash.update(r);
        hash.update(self.encoded);
        hash.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        let expected_r: EdwardsPoint = ED25519_BASEPOINT_TABLE * &s + &self.minus_a * &k;
        expected_r.compress().as_bytes() == r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> ed25519_compact::KeyPair {
        ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]))
    }

    #[test]
    fn verifies_what_ed25519_compact_signs_and_nothing_else() {
        let pair = pair();
        let verifier = Ed25519Verifier::new(*pair.pk).unwrap();
        for message in [&b""[..], b"a", &[0x5a; 1000]] {
            let signature = *pair.sk.sign(message, None);
            assert!(verifier.verify(message, &signature));
            let mut other = message.to_vec();
            other.push(1);
            assert!(!verifier.verify(&other, &signature));
            for index in [0, 31, 32, 63] {
                let mut flipped = signature;
                flipped[index] ^= 1;
                assert!(
                    !verifier.verify(message, &flipped),
                    "bit flipped at {index}"
                );
            }
        }
    }

    #[test]
    fn refuses_a_non_canonical_s() {
        let pair = pair();
        let verifier = Ed25519Verifier::new(*pair.pk).unwrap();
        let signature = *pair.sk.sign(b"m", None);
        // s + ℓ encodes the same scalar mod ℓ; RFC 8032 requires s < ℓ.
        let ell: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let total = u16::from(signature[32 + i]) + u16::from(ell[i]) + carry;
            sum[i] = (total & 0xff) as u8;
            carry = total >> 8;
        }
        let mut malleated = signature;
        malleated[32..].copy_from_slice(&sum);
        assert!(!verifier.verify(b"m", &malleated));
    }

    #[test]
    fn refuses_keys_that_are_not_points_or_of_small_order() {
        let identity = {
            let mut encoded = [0u8; 32];
            encoded[0] = 1;
            encoded
        };
        assert_eq!(
            Ed25519Verifier::new(identity).err(),
            Some(Ed25519KeyError::SmallOrder)
        );
        // y = 2 has no x on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(
            Ed25519Verifier::new(not_a_point).err(),
            Some(Ed25519KeyError::NotAPoint)
        );
    }
}
