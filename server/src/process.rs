//! Settings of the process itself, made first thing in `main`.

/// Turns transparent huge pages off for this process (Linux; elsewhere nothing).
///
/// mimalloc asks the kernel for huge pages on its memory (`madvise(MADV_HUGEPAGE)`) and hands
/// freed memory back after a delay. Memory allocated again after that is faulted in as whole
/// 2 MiB pages, each zeroed by the kernel however little of it is used: in a profile of an
/// import the kernel zeroing huge pages (`clear_page_erms`) took 30 % of the thread that
/// builds and commits the batches. With 4 KiB pages only
/// what is touched is zeroed (BENCHMARKS.md, fourteenth session). This is what mimalloc does
/// itself with `MIMALLOC_ALLOW_THP=0`, an option it reads from the environment only. The
/// setting is the process's and its children's; failing (a kernel without it), nothing changes.
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn transparent_huge_pages_end_up_off() {
        super::without_transparent_huge_pages();
        assert_eq!(
            rustix::thread::transparent_huge_pages_are_disabled().ok(),
            Some(true)
        );
    }
}
