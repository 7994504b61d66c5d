//! RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.
//!
//! Leaves are `SHA-256(0x00 ‖ entry)`, interior nodes `SHA-256(0x01 ‖ left ‖ right)`; the
//! prefixes separate the two domains so a leaf can never pass for a node. The log keeps
//! only entries; roots are recomputed in one streaming pass with [`CompactRange`], which
//! holds O(log n) hashes and yields the root of every prefix as it goes, so a verifier
//! can check each checkpoint on the way through.
//!
//! Proofs follow the RFC's recursive definitions (PATH, SUBPROOF) and are verified with
//! the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms, rejecting proofs of the wrong length.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The Merkle tree hash of a list of leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for leaf in leaves {
        range.push(*leaf);
    }
    range.root()
}

/// Streaming tree state: the perfect subtrees covering the leaves pushed so far.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    /// (subtree root, number of leaves), sizes strictly decreasing.
    stack: Vec<(Hash, u64)>,
    size: u64,
}

impl CompactRange {
    /// An empty range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (leaf, 1u64);
        while let Some(&(left, size)) = self.stack.last() {
            if size != node.1 {
                break;
            }
            self.stack.pop();
            node = (node_hash(&left, &node.0), size * 2);
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// The root of the tree of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(mut acc, _)) = iter.next() else {
            return empty_root();
        };
        for (left, _) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Index or sizes out of range.
    #[error("the proof's indices are out of range")]
    OutOfRange,
    /// The proof has the wrong number of hashes.
    #[error("the proof has the wrong length")]
    WrongLength,
    /// The recomputed root differs.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

fn split_point(n: usize) -> usize {
    // Largest power of two strictly below n (n >= 2).
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The audit path for leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1 PATH).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split_point(d.len());
    let Some((left, right)) = d.split_at_checked(k) else {
        return;
    };
    if m < k {
        path(m, left, out);
        out.push(root(right));
    } else {
        path(m - k, right, out);
        out.push(root(left));
    }
}

/// The consistency proof from the first `size1` leaves to all of `leaves`
/// (RFC 6962 §2.1.2 PROOF). Empty when `size1` is 0 or equals the tree size.
pub fn consistency_proof(leaves: &[Hash], size1: usize) -> Option<Vec<Hash>> {
    if size1 > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if size1 > 0 && size1 < leaves.len() {
        subproof(size1, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root(d));
        }
        return;
    }
    let k = split_point(n);
    let Some((left, right)) = d.split_at_checked(k) else {
        return;
    };
    if m <= k {
        subproof(m, left, complete, out);
        out.push(root(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root(left));
    }
}

/// Check that `leaf` sits at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
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
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Check that the tree of `size1` leaves with `root1` is a prefix of the tree of
/// `size2` leaves with `root2`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::OutOfRange);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if size1 == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut iter = path.iter();
    let Some(first) = iter.next() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in iter {
        if s == 0 {
            return Err(ProofError::WrongLength);
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
        return Err(ProofError::WrongLength);
    }
    if &fr != root1 || &sr != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn h(s: &str) -> Hash {
        unhex(s).try_into().unwrap()
    }

    // The RFC 6962 reference inputs and roots used by certificate-transparency and
    // transparency-dev/merkle.
    const INPUTS: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Hash> {
        INPUTS.iter().map(|s| leaf_hash(&unhex(s))).collect()
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(
            root(&[]),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn rfc6962_reference_roots_for_sizes_1_to_8() {
        let l = leaves();
        for size in 1..=8 {
            assert_eq!(root(&l[..size]), h(ROOTS[size - 1]), "size {size}");
        }
    }

    #[test]
    fn rfc6962_reference_inclusion_proofs() {
        let l = leaves();
        let cases: [(usize, usize, &[&str]); 4] = [
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
        for (index, size, want) in cases {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            let got = inclusion_proof(&l[..size], index).unwrap();
            assert_eq!(got, want, "leaf {index} of {size}");
            let r = h(ROOTS[size - 1]);
            verify_inclusion(index as u64, size as u64, &l[index], &got, &r).unwrap();
            // The named mutations of transparency-dev's verifier tests.
            let (i, s) = (index as u64, size as u64);
            assert!(verify_inclusion(i + 1, s, &l[index], &got, &r).is_err());
            if i > 0 {
                assert!(verify_inclusion(i - 1, s, &l[index], &got, &r).is_err());
            }
            assert!(verify_inclusion(i, s * 2, &l[index], &got, &r).is_err());
            assert!(verify_inclusion(i, s / 2, &l[index], &got, &r).is_err());
            assert!(verify_inclusion(i, s, &leaf_hash(b"WrongLeaf"), &got, &r).is_err());
            assert!(verify_inclusion(i, s, &l[index], &got, &empty_root()).is_err());
            for k in 0..got.len() {
                let mut bad = got.clone();
                bad[k] = empty_root();
                assert!(verify_inclusion(i, s, &l[index], &bad, &r).is_err());
            }
            let mut longer = got.clone();
            longer.push(r);
            assert!(verify_inclusion(i, s, &l[index], &longer, &r).is_err());
            let mut prefixed = vec![r];
            prefixed.extend_from_slice(&got);
            assert!(verify_inclusion(i, s, &l[index], &prefixed, &r).is_err());
            if !got.is_empty() {
                assert!(verify_inclusion(i, s, &l[index], &got[..got.len() - 1], &r).is_err());
            }
        }
    }

    #[test]
    fn rfc6962_reference_consistency_proofs() {
        let l = leaves();
        let cases: [(usize, usize, &[&str]); 4] = [
            (1, 1, &[]),
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
        ];
        for (m, n, want) in cases {
            let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
            let got = consistency_proof(&l[..n], m).unwrap();
            assert_eq!(got, want, "{m} -> {n}");
            let (r1, r2) = (h(ROOTS[m - 1]), h(ROOTS[n - 1]));
            verify_consistency(m as u64, n as u64, &r1, &r2, &got).unwrap();
            if got.is_empty() {
                continue;
            }
            let (a, b) = (m as u64, n as u64);
            assert!(verify_consistency(a - 1, b, &r1, &r2, &got).is_err());
            assert!(verify_consistency(a + 1, b, &r1, &r2, &got).is_err());
            assert!(verify_consistency(a, b * 2, &r1, &r2, &got).is_err());
            assert!(verify_consistency(a, b / 2, &r1, &r2, &got).is_err());
            assert!(verify_consistency(a, b, &r2, &r1, &got).is_err());
            assert!(verify_consistency(a, b, &r1, &r2, &[]).is_err());
            for k in 0..got.len() {
                let mut bad = got.clone();
                bad[k] = empty_root();
                assert!(verify_consistency(a, b, &r1, &r2, &bad).is_err());
            }
            let mut longer = got.clone();
            longer.push(r1);
            assert!(verify_consistency(a, b, &r1, &r2, &longer).is_err());
            assert!(verify_consistency(a, b, &r1, &r2, &got[..got.len() - 1]).is_err());
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies() {
        let l: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut range = CompactRange::new();
        for n in 1..=l.len() {
            range.push(l[n - 1]);
            let r = root(&l[..n]);
            assert_eq!(range.root(), r);
            for i in 0..n {
                let p = inclusion_proof(&l[..n], i).unwrap();
                verify_inclusion(i as u64, n as u64, &l[i], &p, &r).unwrap();
            }
            for m in 0..=n {
                let p = consistency_proof(&l[..n], m).unwrap();
                let r1 = root(&l[..m]);
                verify_consistency(m as u64, n as u64, &r1, &r, &p).unwrap();
            }
        }
    }
}
