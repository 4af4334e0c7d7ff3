//! The indicator lookups the hot path will make allocate nothing: a counting allocator around the
//! system one, counting per thread, measured after a warm-up call (the regex engine fills a
//! per-thread cache on first use).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use defender_misp::indicator::cidr::CidrIndex;
use defender_misp::indicator::domain::{HostIndex, lookup_names};
use defender_misp::indicator::fixtures;
use defender_misp::indicator::misp::parse_attribute;
use defender_misp::indicator::scope::ip_skip;
use defender_misp::indicator::warninglist::{Selection, Warninglists};
use defender_misp::indicator::{Cidr, Indicator, Ip};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl Fn()) -> usize {
    f();
    let before = ALLOCATIONS.with(Cell::get);
    for _ in 0..10 {
        f();
    }
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_the_allocations_of_a_name_parse() {
    let n = allocations_in(|| {
        let h = defender_misp::indicator::Host::parse("A.Evil.Test").unwrap();
        assert_eq!(h.as_str(), "a.evil.test");
    });
    assert!(n >= 10, "{n}");
}

#[test]
fn address_parsing_classification_and_cidr_lookups_allocate_nothing() {
    let index = CidrIndex::build(
        ["1.2.3.0/24", "1.2.3.128/25", "2d00::/16", "1.0.0.0/8"]
            .iter()
            .enumerate()
            .map(|(i, s)| (Cidr::parse(s).unwrap(), i)),
    );
    let n = allocations_in(|| {
        let ip = Ip::parse("::ffff:1.2.3.200").unwrap();
        assert!(ip_skip(ip).is_none());
        assert_eq!(index.containing(ip).len(), 3);
        assert!(index.containing(Ip::parse("9.9.9.9").unwrap()).is_empty());
    });
    assert_eq!(n, 0);
}

#[test]
fn host_lookups_under_parent_names_allocate_nothing() {
    let mut index: HostIndex<u32> = HostIndex::new();
    index.insert_covering(&fixtures::host(""), 1);
    index.insert_exact(&fixtures::host("b"), 2);
    let host = fixtures::host("a.b");
    let pattern = parse_attribute("domain", "evil.test").unwrap();
    let observed = Indicator::Host(host.clone());
    let n = allocations_in(|| {
        assert_eq!(lookup_names(&host).count(), 3);
        assert_eq!(index.lookup(&host).count(), 1);
        assert!(pattern[0].matches(&observed, None));
    });
    assert_eq!(n, 0);
}

#[test]
fn warninglist_checks_of_observed_indicators_allocate_nothing() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/warninglists");
    let (lists, _) = Warninglists::load(&dir, &Selection::All).unwrap();
    let listed_ip = Indicator::Ip(fixtures::ipv4(4));
    let clean_ip = Indicator::Ip(fixtures::ipv4(200));
    let listed_host = Indicator::Host(fixtures::host("x"));
    let cdn = Indicator::parse("img.cdn.test").unwrap();
    let n = allocations_in(|| {
        assert!(lists.check_indicator(&listed_ip, "ip-dst").is_some());
        assert!(lists.check_indicator(&clean_ip, "ip-dst").is_none());
        assert!(lists.check_indicator(&listed_host, "hostname").is_none());
        assert!(lists.check_indicator(&cdn, "hostname").is_some());
    });
    assert_eq!(n, 0);
}

#[test]
fn a_file_hash_is_parsed_copied_and_keyed_without_the_heap() {
    use defender_misp::intel::LookupKey;
    use defender_misp::records::FileHash;
    let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let n = allocations_in(|| {
        let hash = FileHash::parse(upper).unwrap();
        let key = LookupKey::Hash(hash.clone());
        let copy = key.clone();
        assert_eq!(copy.as_hash().map(FileHash::as_str), Some(lower));
        assert!(copy == key);
    });
    assert_eq!(n, 0, "allocations in 10 parses, keys and copies of a hash");
}
