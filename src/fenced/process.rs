//! Settings of the `steward` program's memory, made at its start through C interfaces.

/// mimalloc's `purge_delay` option (its place in `mi_option_e`, which the bindings do not
/// name): how long freed memory is kept before it is given back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A command lives for seconds and its memory goes back at exit: freed memory is kept for
/// reuse rather than given back meanwhile. Given back, it is zeroed again by the system when
/// it is next used, and an export frees and reuses hundreds of MiB (about 5 % of its time).
/// For a program whose allocator is mimalloc.
pub fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options; any value is valid for this one.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// mimalloc's `purge_delay`, as [`keep_freed_memory`] sets it.
pub fn freed_memory_kept_for() -> std::os::raw::c_long {
    // SAFETY: reads one of mimalloc's options.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
}
