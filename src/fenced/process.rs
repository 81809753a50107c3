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

/// SQLite's own memory (the values bound to a statement, its pages and records) taken from
/// mimalloc rather than the system allocator, and not counted: by default SQLite keeps a
/// running total of its memory under one process-wide lock. An import binds millions of text
/// values, each copied into memory SQLite allocates and frees again; the system allocator
/// and that lock took a fifth of the SQLite thread's time.
///
/// Only before SQLite starts, so at the program's start: once a connection has been opened,
/// SQLite keeps its allocator and this returns SQLite's refusal (`SQLITE_MISUSE`).
pub fn sqlite_memory_from_mimalloc() -> Result<(), std::os::raw::c_int> {
    use rusqlite::ffi;
    use std::os::raw::{c_int, c_void};

    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        // SAFETY: mimalloc takes any size; SQLite never asks for a negative one.
        unsafe { libmimalloc_sys::mi_malloc(n.max(0) as usize) }
    }
    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: `p` came from `malloc` or `realloc` here (SQLite's contract).
        unsafe { libmimalloc_sys::mi_free(p) }
    }
    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        // SAFETY: as `free`; mimalloc keeps the contents up to the smaller size.
        unsafe { libmimalloc_sys::mi_realloc(p, n.max(0) as usize) }
    }
    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        // SAFETY: as `free`.
        let n = unsafe { libmimalloc_sys::mi_usable_size(p) };
        c_int::try_from(n).unwrap_or(c_int::MAX)
    }
    unsafe extern "C" fn roundup(n: c_int) -> c_int {
        // SAFETY: a function of the size alone.
        let n = unsafe { libmimalloc_sys::mi_good_size(n.max(0) as usize) };
        c_int::try_from(n).unwrap_or(c_int::MAX)
    }
    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }
    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: each option takes the argument given; SQLite copies `methods` before it
    // returns, and refuses either once it has started.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    // SAFETY: as above.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &methods) };
    if rc != ffi::SQLITE_OK {
        return Err(rc);
    }
    Ok(())
}

/// Whether memory SQLite allocates comes from mimalloc's heap (for the test of
/// [`sqlite_memory_from_mimalloc`]).
#[doc(hidden)]
pub fn sqlite_allocates_from_mimalloc() -> bool {
    use rusqlite::ffi;
    // SAFETY: an allocation through SQLite's interface, looked up by mimalloc (which only
    // compares its address) and freed through SQLite again.
    unsafe {
        let p = ffi::sqlite3_malloc(100);
        if p.is_null() {
            return false;
        }
        let ours = libmimalloc_sys::mi_is_in_heap_region(p) && ffi::sqlite3_msize(p) >= 100;
        ffi::sqlite3_free(p);
        ours
    }
}

/// The memory SQLite counts as in use: none once [`sqlite_memory_from_mimalloc`] is set.
#[doc(hidden)]
pub fn sqlite_memory_counted() -> i64 {
    // SAFETY: reads SQLite's counter.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}
