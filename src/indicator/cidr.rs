//! [`CidrIndex`]: which stored networks contain an address, for MISP `ip-src`/`ip-dst` values
//! written as CIDR (`203.0.113.0/24`) in snapshot and feed modes.
//!
//! Built once per load, read many times. CIDR networks are nested or disjoint, so the address
//! space splits into elementary ranges, each contained by one chain of networks. The index keeps
//! the ranges' start addresses sorted with, for each, a slice of the values of every network
//! containing it (widest first). A lookup is one binary search over the starts and returns that
//! slice: no allocation, `O(log n)` whatever the nesting.
//!
//! Why not a trie crate: `prefix-trie` 0.10 answers longest-prefix match without allocating, but
//! "every containing network" (`cover`) collects into a `Vec` per lookup, and a load-once index
//! needs no inserts or removals. Memory: a start address and a `(u32, u32)` slice per range, two
//! ranges at most per network, plus the values repeated once per range they cover (at most the
//! nesting depth, 33 for IPv4).

use std::net::IpAddr;

use super::ip::{Cidr, Ip};

/// Addresses of one family as integers.
trait Bits: Copy + Ord + Default + std::fmt::Debug {
    fn succ(self) -> Option<Self>;
}

impl Bits for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Bits for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// Sorted elementary ranges of one address family.
#[derive(Debug, Clone)]
struct Ranges<A, V> {
    starts: Vec<A>,
    /// `(offset, len)` into `values` for the range starting at the same index of `starts`.
    slices: Vec<(u32, u32)>,
    values: Vec<V>,
}

impl<A, V> Default for Ranges<A, V> {
    fn default() -> Self {
        Self {
            starts: Vec::new(),
            slices: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<A: Bits, V: Clone> Ranges<A, V> {
    /// `items`: (first address, last address, value) of each network.
    fn build(mut items: Vec<(A, A, V)>) -> Self {
        // Widest first among equal starts, so a containing network is pushed before the ones
        // inside it.
        items.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut points: Vec<A> = Vec::with_capacity(items.len() * 2 + 1);
        points.push(A::default());
        for (first, last, _) in &items {
            points.push(*first);
            if let Some(after) = last.succ() {
                points.push(after);
            }
        }
        points.sort_unstable();
        points.dedup();
        let mut out = Ranges::default();
        let mut active: Vec<usize> = Vec::new();
        let mut next = 0;
        for p in points {
            while active.last().is_some_and(|&i| items[i].1 < p) {
                active.pop();
            }
            while next < items.len() && items[next].0 == p {
                active.push(next);
                next += 1;
            }
            let offset = out.values.len() as u32;
            out.values
                .extend(active.iter().map(|&i| items[i].2.clone()));
            out.starts.push(p);
            out.slices.push((offset, active.len() as u32));
        }
        out.starts.shrink_to_fit();
        out.slices.shrink_to_fit();
        out.values.shrink_to_fit();
        out
    }

    fn containing(&self, addr: A) -> &[V] {
        let i = self.starts.partition_point(|s| *s <= addr);
        if i == 0 {
            return &[];
        }
        let (offset, len) = self.slices[i - 1];
        &self.values[offset as usize..(offset + len) as usize]
    }

    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<A>()
            + self.slices.capacity() * std::mem::size_of::<(u32, u32)>()
            + self.values.capacity() * std::mem::size_of::<V>()
    }
}

/// Networks of both families with a value each, answering "which contain this address".
#[derive(Debug, Clone)]
pub struct CidrIndex<V> {
    v4: Ranges<u32, V>,
    v6: Ranges<u128, V>,
    networks: usize,
}

impl<V> Default for CidrIndex<V> {
    fn default() -> Self {
        Self {
            v4: Ranges::default(),
            v6: Ranges::default(),
            networks: 0,
        }
    }
}

impl<V: Clone> CidrIndex<V> {
    /// Builds the index. The same network may appear with several values; all are kept.
    pub fn build(items: impl IntoIterator<Item = (Cidr, V)>) -> Self {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (net, value) in items {
            match net.net() {
                ipnet::IpNet::V4(n) => {
                    v4.push((u32::from(n.network()), u32::from(n.broadcast()), value))
                }
                ipnet::IpNet::V6(n) => {
                    v6.push((u128::from(n.network()), u128::from(n.broadcast()), value))
                }
            }
        }
        let networks = v4.len() + v6.len();
        CidrIndex {
            v4: Ranges::build(v4),
            v6: Ranges::build(v6),
            networks,
        }
    }

    /// The values of every network containing `ip`, widest network first.
    pub fn containing(&self, ip: Ip) -> &[V] {
        match ip.addr() {
            IpAddr::V4(a) => self.v4.containing(u32::from(a)),
            IpAddr::V6(a) => self.v6.containing(u128::from(a)),
        }
    }

    /// Networks the index was built from.
    pub fn len(&self) -> usize {
        self.networks
    }

    pub fn is_empty(&self) -> bool {
        self.networks == 0
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    fn ip(s: &str) -> Ip {
        Ip::parse(s).unwrap()
    }

    #[test]
    fn nested_and_disjoint_networks_are_all_found_widest_first() {
        let index = CidrIndex::build([
            (net("10.0.0.0/8"), "a"),
            (net("10.1.0.0/16"), "b"),
            (net("10.1.1.0/24"), "c"),
            (net("10.1.2.0/24"), "d"),
            (net("10.1.1.7"), "e"),
            (net("10.1.0.0/16"), "b2"),
            (net("0.0.0.0/0"), "all"),
            (net("255.255.255.255/32"), "top"),
            (net("2001:db8::/32"), "v6"),
            (net("2001:db8:1::/48"), "v6b"),
        ]);
        assert_eq!(index.len(), 10);
        assert_eq!(
            index.containing(ip("10.1.1.7")),
            ["all", "a", "b", "b2", "c", "e"]
        );
        assert_eq!(
            index.containing(ip("10.1.1.8")),
            ["all", "a", "b", "b2", "c"]
        );
        assert_eq!(
            index.containing(ip("10.1.2.255")),
            ["all", "a", "b", "b2", "d"]
        );
        assert_eq!(index.containing(ip("10.1.3.0")), ["all", "a", "b", "b2"]);
        assert_eq!(index.containing(ip("10.2.0.0")), ["all", "a"]);
        assert_eq!(index.containing(ip("11.0.0.0")), ["all"]);
        assert_eq!(index.containing(ip("255.255.255.255")), ["all", "top"]);
        assert_eq!(index.containing(ip("::ffff:10.1.1.7")).len(), 6);
        assert_eq!(index.containing(ip("2001:db8:1::5")), ["v6", "v6b"]);
        assert_eq!(index.containing(ip("2001:db8:2::5")), ["v6"]);
        assert!(index.containing(ip("2001:db9::")).is_empty());
        assert!(index.containing(ip("::")).is_empty());
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index: CidrIndex<u8> = CidrIndex::build([]);
        assert!(index.is_empty());
        assert!(index.containing(ip("1.2.3.4")).is_empty());
        let full = CidrIndex::build([(net("::/0"), 1u8)]);
        assert_eq!(full.containing(ip("ffff::1")), [1]);
        assert!(full.containing(ip("1.2.3.4")).is_empty());
    }

    proptest! {
        #[test]
        fn the_index_agrees_with_a_linear_scan(
            nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let nets: Vec<Cidr> = nets
                .iter()
                .map(|(a, len)| net(&format!("{}/{len}", std::net::Ipv4Addr::from(*a))))
                .collect();
            let index = CidrIndex::build(nets.iter().copied().enumerate().map(|(i, n)| (n, i)));
            // Probe inside each network too, not only at random.
            let inside = nets.iter().map(|n| u32::from(match n.network().addr() { IpAddr::V4(a) => a, IpAddr::V6(_) => unreachable!() }));
            for p in probes.into_iter().chain(inside) {
                let addr = Ip::from(std::net::Ipv4Addr::from(p));
                let mut want: Vec<usize> = (0..nets.len()).filter(|&i| nets[i].contains(addr)).collect();
                let mut got = index.containing(addr).to_vec();
                want.sort_unstable();
                got.sort_unstable();
                prop_assert_eq!(got, want);
            }
        }
    }
}
