//! The `steward` program: its memory is set up here, then the command line (`cli`), a thin
//! shell over `steward::api`, runs.

use std::process::ExitCode;

mod cli;

/// Exports, imports and the rules allocate and free millions of small strings across
/// threads; mimalloc does that several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its place in `mi_option_e`, which the bindings do not
/// name): how long freed memory is kept before it is given back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A command lives for seconds and its memory goes back at exit: freed memory is kept for
/// reuse rather than given back meanwhile. Given back, it is zeroed again by the system when
/// it is next used, and an export frees and reuses hundreds of MiB (about 5 % of its time).
fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options; any value is valid for this one.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    };
}

/// The command's memory comes in the system's small pages, not transparent huge ones:
/// mimalloc asks for huge pages, and the system zeroes each 2 MiB at its first touch, which
/// cost an export a fifth of its CPU time (its system time halves without them). Where the
/// system has no such setting, nothing changes.
#[cfg(target_os = "linux")]
fn small_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes one integer and touches no memory of ours.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    #[cfg(target_os = "linux")]
    small_pages();
    cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_kept_is_mimallocs_purge_delay() {
        // The bindings do not name the option: its place is checked by its default (1000 ms,
        // which no neighbouring option has), then the setting is read back.
        #[allow(unsafe_code)]
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
        }
        keep_freed_memory();
        assert_eq!(get(), -1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_command_asks_for_small_pages() {
        // SAFETY: PR_GET_THP_DISABLE reads one flag of the process.
        #[allow(unsafe_code)]
        let disabled = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        small_pages();
        assert_eq!(disabled(), 1);
    }
}
