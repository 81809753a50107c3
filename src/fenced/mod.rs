//! The one module where `unsafe` code lives: the rest of the crate denies it, and a test
//! (`tests/it/layering.rs`) checks that no other file allows it.
//!
//! What is here earned its place: the vector paths beat the kept library on their benchmark
//! (`cargo bench --bench json_kept`) by the 1.3 times a hand-written path must, each sits
//! beside a byte-at-a-time reference in its own module, and the tests force every [`Level`]
//! this CPU has against that reference and the library; the fuzzers run them too. The
//! memory settings (mimalloc's, and SQLite's allocator) are made through C interfaces,
//! which have no safe ones.

pub(crate) mod json;
pub(crate) mod line;
pub mod process;

/// An instruction-set level a vector path is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A byte at a time: every CPU.
    Scalar,
    /// SSE2: every x86-64 CPU.
    Sse2,
    /// AVX2 with BMI1 and POPCNT.
    Avx2,
    /// AVX-512F and BW with BMI1 and POPCNT.
    Avx512,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Scalar, Level::Sse2, Level::Avx2, Level::Avx512];

    /// Whether this CPU runs code of this level.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let base = || is_x86_feature_detected!("bmi1") && is_x86_feature_detected!("popcnt");
            match self {
                Level::Scalar | Level::Sse2 => true,
                Level::Avx2 => is_x86_feature_detected!("avx2") && base(),
                Level::Avx512 => {
                    is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512bw")
                        && base()
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Level::Scalar
        }
    }

    /// The highest level this CPU runs.
    pub fn best() -> Level {
        static BEST: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| {
            Level::ALL
                .into_iter()
                .rev()
                .find(|l| l.available())
                .unwrap_or(Level::Scalar)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_levels_this_cpu_runs_are_named() {
        let runs: Vec<Level> = Level::ALL.into_iter().filter(|l| l.available()).collect();
        // Printed with the tests' output: a level this CPU lacks is not tested here.
        println!(
            "vector levels on this CPU: {runs:?}; best {:?}",
            Level::best()
        );
        assert!(runs.contains(&Level::Scalar));
        assert_eq!(runs.last(), Some(&Level::best()));
        #[cfg(target_arch = "x86_64")]
        assert!(runs.contains(&Level::Sse2));
    }
}
