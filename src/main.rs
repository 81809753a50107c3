//! The `steward` program: its memory is set up here, then the command line (`cli`), a thin
//! shell over `steward::api`, runs.

use std::process::ExitCode;

mod cli;

/// Exports, imports and the rules allocate and free millions of small strings across
/// threads; mimalloc does that several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command's memory comes in the system's small pages, not transparent huge ones:
/// mimalloc asks for huge pages, and the system zeroes each 2 MiB at its first touch, which
/// cost an export a fifth of its CPU time (its system time halves without them). Where the
/// system has no such setting, nothing changes.
#[cfg(target_os = "linux")]
fn small_pages() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

fn main() -> ExitCode {
    steward::fenced::process::keep_freed_memory();
    // Before any connection: SQLite has not started, so it takes the setting.
    let _ = steward::fenced::process::sqlite_memory_from_mimalloc();
    #[cfg(target_os = "linux")]
    small_pages();
    cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_kept() {
        steward::fenced::process::keep_freed_memory();
        assert_eq!(steward::fenced::process::freed_memory_kept_for(), -1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_command_asks_for_small_pages() {
        small_pages();
        assert_eq!(
            rustix::thread::transparent_huge_pages_are_disabled().ok(),
            Some(true)
        );
    }
}
