//! The process's memory: no transparent huge pages.
//!
//! mimalloc asks the kernel for huge pages (`madvise(MADV_HUGEPAGE)`) on the memory it maps, and
//! the kernel zeroes each 2 MiB page whole at its first touch. Measured with `examples/load`
//! (BENCHMARKS.md, "Part 3", step 1): in a fresh process the first three batches spent 40–60 ms of
//! CPU each in the kernel's `clear_page_erms`, the cold batch at one partition was 5.8 ms of CPU
//! instead of 2.7, its p99 86–94 ms instead of 58 ms, and idle RSS 17 MB instead of 10. So the
//! allocator is built without that request (mimalloc's `no_thp` feature, Cargo.toml), and
//! [`no_transparent_huge_pages`] turns huge pages off for the whole process, which also covers a
//! kernel set to give them without being asked (`transparent_hugepage=always`).

/// Turns transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`, Linux 3.15
/// and later); pages touched from now on are 4 KiB ones. Elsewhere it does nothing.
pub fn no_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and touches no memory of ours.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
