//! One digest length's entries: sorted by digest, with a directory on the digest's leading bits,
//! so that a lookup reads one directory slot and, usually, one entry (two cache misses), where a
//! binary search over a million entries made about twenty dependent ones.
//!
//! The digests are MISP's hashes of files, so their leading bits are uniform and a bucket holds
//! about one entry. A MISP whose values were made to share a prefix only fills some buckets: a
//! bucket of more than [`SCAN`] entries is binary-searched, so the worst case stays the binary
//! search it replaced.

use std::ops::Range;

/// What an entry knows of its attribute, 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) id: u32,
    pub(super) event: u32,
    pub(super) uuid: [u8; 16],
    /// Index into [`HASH_ATTRIBUTE_TYPES`](crate::intel::HASH_ATTRIBUTE_TYPES).
    pub(super) kind: u8,
}

/// A digest and its attribute: 44, 48 or 60 bytes for MD5, SHA-1, SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry<const N: usize> {
    pub(super) digest: [u8; N],
    pub(super) meta: Meta,
}

/// A hash as its binary digest, inline: the key of the index, never a `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Digest {
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `2 × N` hex characters of either case as `N` bytes; `None` for any other text.
pub(super) fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

impl Digest {
    /// A hash as MISP or a record writes it: hex of 32, 40 or 64 characters in either case, the
    /// rules of [`FileHash::parse`](crate::records::FileHash::parse) without its `String`.
    pub(super) fn from_hex(hex: &str) -> Option<Digest> {
        let b = hex.as_bytes();
        match b.len() {
            32 => decode_hex(b).map(Digest::Md5),
            40 => decode_hex(b).map(Digest::Sha1),
            64 => decode_hex(b).map(Digest::Sha256),
            _ => None,
        }
    }
}

/// Entries in a bucket scanned one by one; a larger bucket is binary-searched.
pub(super) const SCAN: usize = 8;
/// Directory bits at most (16M slots, 64 MiB): enough for 16M entries of one length.
const MAX_BITS: u32 = 24;

/// Entries of one digest length, sorted by digest, with the directory of their leading bits.
#[derive(Debug, Clone, Default)]
pub(super) struct Table<const N: usize> {
    entries: Box<[Entry<N>]>,
    /// `dir[p]` is the first entry whose leading `bits` bits are at least `p`; `2^bits + 1`
    /// slots, the last one the number of entries. Empty: no directory, the whole table is one
    /// bucket (fewer than two entries, or more than `u32` can count).
    dir: Box<[u32]>,
    bits: u32,
}

/// The leading `bits` bits of a digest (`bits` in 1..=32; every digest here has 16 bytes or more).
fn prefix<const N: usize>(digest: &[u8; N], bits: u32) -> usize {
    let head = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    (head >> (32 - bits)) as usize
}

impl<const N: usize> Table<N> {
    /// Sorts `entries` in place and builds the directory; the entries are kept without a copy.
    pub(super) fn new(mut entries: Vec<Entry<N>>) -> Self {
        entries.sort_unstable_by_key(|e| e.digest);
        let entries = entries.into_boxed_slice();
        let n = entries.len();
        if n < 2 || u32::try_from(n).is_err() {
            return Table {
                entries,
                dir: Box::default(),
                bits: 0,
            };
        }
        // About one entry per slot: the largest power of two not above n.
        let bits = (usize::BITS - 1 - n.leading_zeros()).clamp(1, MAX_BITS);
        let slots = 1usize << bits;
        let mut dir = Vec::with_capacity(slots + 1);
        let mut i = 0;
        for p in 0..slots {
            while i < n && prefix(&entries[i].digest, bits) < p {
                i += 1;
            }
            dir.push(i as u32);
        }
        dir.push(n as u32);
        Table {
            entries,
            dir: dir.into_boxed_slice(),
            bits,
        }
    }

    /// The bucket `digest` falls in.
    fn bucket(&self, digest: &[u8; N]) -> Range<usize> {
        if self.dir.is_empty() {
            return 0..self.entries.len();
        }
        let p = prefix(digest, self.bits);
        self.dir[p] as usize..self.dir[p + 1] as usize
    }

    /// The entries holding `digest` (adjacent, since the table is sorted).
    pub(super) fn find(&self, digest: &[u8; N]) -> &[Entry<N>] {
        self.find_in(self.bucket(digest), digest)
    }

    /// The entries holding `digest` within its bucket.
    fn find_in(&self, bucket: Range<usize>, digest: &[u8; N]) -> &[Entry<N>] {
        let bucket = &self.entries[bucket];
        let start = if bucket.len() <= SCAN {
            match bucket.iter().position(|e| e.digest == *digest) {
                Some(i) => i,
                None => return &[],
            }
        } else {
            bucket.partition_point(|e| e.digest < *digest)
        };
        let rest = &bucket[start..];
        let len = rest.iter().take_while(|e| e.digest == *digest).count();
        &rest[..len]
    }

    /// Whether each of `digests` is held: [`Self::find`] for many at once, in two passes (every
    /// bucket's bounds, then each bucket's entries), so that the cache misses of different
    /// digests overlap instead of following one another (a warm batch's ~450 miss checks
    /// against a million IOCs, issue 14).
    pub(super) fn contains_many(&self, digests: &[[u8; N]]) -> Vec<bool> {
        let buckets: Vec<Range<usize>> = digests.iter().map(|d| self.bucket(d)).collect();
        digests
            .iter()
            .zip(buckets)
            .map(|(d, b)| !self.find_in(b, d).is_empty())
            .collect()
    }

    pub(super) fn entries(&self) -> &[Entry<N>] {
        &self.entries
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Heap bytes of the entries and the directory.
    pub(super) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries) + std::mem::size_of_val(&*self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(id: u32) -> Meta {
        Meta {
            id,
            event: id / 3,
            uuid: [id as u8; 16],
            kind: 0,
        }
    }

    /// The straightforward path: every entry holding the digest, by a scan of the input.
    fn naive<const N: usize>(input: &[Entry<N>], digest: &[u8; N]) -> Vec<u32> {
        let mut ids: Vec<u32> = input
            .iter()
            .filter(|e| e.digest == *digest)
            .map(|e| e.meta.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn found<const N: usize>(table: &Table<N>, digest: &[u8; N]) -> Vec<u32> {
        let mut ids: Vec<u32> = table.find(digest).iter().map(|e| e.meta.id).collect();
        ids.sort_unstable();
        ids
    }

    /// Digests of three kinds: random, sharing a long prefix with many others (a MISP made to
    /// defeat the directory: one bucket holds them all), and few distinct values repeated.
    fn digest16() -> impl Strategy<Value = [u8; 16]> {
        prop_oneof![
            any::<[u8; 16]>(),
            any::<[u8; 4]>().prop_map(|tail| {
                let mut d = [0xab; 16];
                d[12..].copy_from_slice(&tail);
                d
            }),
            (0u8..4).prop_map(|b| [b; 16]),
        ]
    }

    proptest! {
        #[test]
        fn the_directory_finds_exactly_what_a_scan_of_the_input_finds(
            digests in prop::collection::vec(digest16(), 0..600),
            probes in prop::collection::vec(digest16(), 0..50),
        ) {
            let input: Vec<Entry<16>> = digests
                .iter()
                .enumerate()
                .map(|(i, d)| Entry { digest: *d, meta: meta(i as u32) })
                .collect();
            let table = Table::new(input.clone());
            prop_assert_eq!(table.len(), input.len());
            for d in digests.iter().chain(&probes) {
                prop_assert_eq!(found(&table, d), naive(&input, d));
            }
            // The batch form answers as `find` does, key by key.
            let asked: Vec<[u8; 16]> = probes.iter().chain(&digests).copied().collect();
            let one_by_one: Vec<bool> = asked.iter().map(|d| !table.find(d).is_empty()).collect();
            prop_assert_eq!(table.contains_many(&asked), one_by_one);
        }
    }

    #[test]
    fn a_table_whose_digests_all_share_their_leading_bytes_is_one_bucket_binary_searched() {
        let input: Vec<Entry<20>> = (0..5000u32)
            .map(|i| {
                let mut d = [0u8; 20];
                d[16..].copy_from_slice(&i.to_be_bytes());
                Entry {
                    digest: d,
                    meta: meta(i),
                }
            })
            .collect();
        let table = Table::new(input.clone());
        assert_eq!(table.bucket(&input[0].digest), 0..5000, "one bucket");
        for e in input.iter().step_by(97) {
            assert_eq!(found(&table, &e.digest), [e.meta.id]);
        }
        assert!(table.find(&[0xff; 20]).is_empty());
    }

    #[test]
    fn uniform_digests_spread_about_one_per_bucket() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let input: Vec<Entry<32>> = (0..100_000u32)
            .map(|i| {
                let mut d = [0u8; 32];
                for chunk in d.chunks_exact_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    chunk.copy_from_slice(&x.to_le_bytes());
                }
                Entry {
                    digest: d,
                    meta: meta(i),
                }
            })
            .collect();
        let table = Table::new(input.clone());
        assert_eq!(table.bits, 16, "2^16 slots for 100,000 entries");
        let largest = input
            .iter()
            .map(|e| table.bucket(&e.digest).len())
            .max()
            .unwrap();
        assert!(largest <= SCAN * 2, "largest bucket {largest}");
        assert!(
            input
                .iter()
                .all(|e| found(&table, &e.digest) == [e.meta.id])
        );
    }

    #[test]
    fn hex_of_either_case_decodes_and_anything_else_does_not() {
        assert_eq!(decode_hex::<2>(b"0aFf"), Some([0x0a, 0xff]));
        assert_eq!(decode_hex::<2>(b"0aF"), None);
        assert_eq!(decode_hex::<2>(b"0aFg"), None);
        assert_eq!(decode_hex::<2>("0\u{e9}a".as_bytes()), None);
        assert!(matches!(
            Digest::from_hex(&"A".repeat(40)),
            Some(Digest::Sha1(_))
        ));
        assert_eq!(Digest::from_hex(&"a".repeat(41)), None);
    }
}
