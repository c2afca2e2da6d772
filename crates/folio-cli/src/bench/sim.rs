//! Replacement-policy simulation: a page-reference trace replayed through
//! the buffer pool's own replacers (`folio::buffer::replacer`) and through
//! Belady's optimal policy, which evicts the page whose next use is
//! farthest away (computable because the whole trace is known).
//!
//! The simulated pool does what `BufferPool` does with its replacer: a hit
//! records an access to the page's frame; a miss takes a free frame, or
//! asks the replacer for a victim, removes it, and records the access of
//! the frame for the new page. Every frame is evictable (nothing is
//! pinned in a trace replay).
//!
//! Invariant, asserted: at most `frames` pages are resident, and a
//! resident page maps to exactly one frame.

use std::collections::{BTreeSet, HashMap};

use folio::buffer::replacer::new_replacer;
use folio::buffer::FrameId;
use folio::ReplacerKind;

/// Hits and requests of one replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Requests that found their page resident.
    pub hits: u64,
    /// All requests.
    pub requests: u64,
}

impl Outcome {
    /// Hits over requests, 0 for an empty trace.
    pub fn hit_ratio(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        // Counts below 2^53 convert exactly.
        #[allow(clippy::cast_precision_loss)]
        let ratio = self.hits as f64 / self.requests as f64;
        ratio
    }
}

/// Replays `trace` through a pool of `frames` frames managed by the
/// replacer of kind `kind`.
pub fn replay(trace: &[u64], frames: usize, kind: ReplacerKind) -> Outcome {
    assert!(frames > 0, "a pool has at least one frame");
    let replacer = new_replacer(kind, frames);
    let mut frame_of: HashMap<u64, FrameId> = HashMap::with_capacity(frames);
    let mut page_in: Vec<Option<u64>> = vec![None; frames];
    let mut next_free = 0usize;
    let mut hits = 0u64;
    for &page in trace {
        if let Some(&frame) = frame_of.get(&page) {
            hits += 1;
            replacer.record_access(frame);
            continue;
        }
        let frame = if next_free < frames {
            next_free += 1;
            FrameId(u32::try_from(next_free - 1).expect("frame ids fit u32"))
        } else {
            let victim = replacer
                .victim(&|_| true)
                .expect("a full pool of unpinned frames has a victim");
            replacer.remove(victim);
            let old = page_in[victim.0 as usize]
                .take()
                .expect("a victim frame holds a page");
            frame_of.remove(&old);
            victim
        };
        page_in[frame.0 as usize] = Some(page);
        frame_of.insert(page, frame);
        replacer.record_access(frame);
        debug_assert!(frame_of.len() <= frames);
    }
    Outcome {
        hits,
        requests: trace.len() as u64,
    }
}

/// Replays `trace` through Belady's optimal policy with `frames` frames:
/// the most hits any policy can get without prefetching.
pub fn replay_optimal(trace: &[u64], frames: usize) -> Outcome {
    assert!(frames > 0, "a pool has at least one frame");
    let next_use = next_uses(trace);
    // Resident pages ordered by their next use; `usize::MAX` for never.
    let mut by_next: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut next_of: HashMap<u64, usize> = HashMap::with_capacity(frames);
    let mut hits = 0u64;
    for (at, &page) in trace.iter().enumerate() {
        if let Some(previous) = next_of.get(&page).copied() {
            hits += 1;
            by_next.remove(&(previous, page));
        } else if next_of.len() == frames {
            let farthest = by_next.pop_last().expect("a full pool is not empty");
            next_of.remove(&farthest.1);
        }
        by_next.insert((next_use[at], page));
        next_of.insert(page, next_use[at]);
        debug_assert_eq!(by_next.len(), next_of.len());
        debug_assert!(next_of.len() <= frames);
    }
    Outcome {
        hits,
        requests: trace.len() as u64,
    }
}

/// For each position, where the same page is requested next
/// (`usize::MAX`: never).
fn next_uses(trace: &[u64]) -> Vec<usize> {
    let mut next = vec![usize::MAX; trace.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (at, &page) in trace.iter().enumerate().rev() {
        if let Some(later) = seen.insert(page, at) {
            next[at] = later;
        }
    }
    next
}

/// Number of distinct pages in `trace`.
pub fn distinct_pages(trace: &[u64]) -> usize {
    trace.iter().collect::<std::collections::HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive optimum for tiny cases: the most hits over every choice
    /// of victim.
    fn brute_force_optimum(trace: &[u64], frames: usize) -> u64 {
        fn go(trace: &[u64], frames: usize, resident: &mut Vec<u64>) -> u64 {
            let Some((&page, rest)) = trace.split_first() else {
                return 0;
            };
            if resident.contains(&page) {
                return 1 + go(rest, frames, resident);
            }
            if resident.len() < frames {
                resident.push(page);
                let best = go(rest, frames, resident);
                resident.pop();
                return best;
            }
            let mut best = 0;
            for i in 0..resident.len() {
                let old = std::mem::replace(&mut resident[i], page);
                best = best.max(go(rest, frames, resident));
                resident[i] = old;
            }
            best
        }
        go(trace, frames, &mut Vec::new())
    }

    #[test]
    fn optimal_matches_an_exhaustive_search() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let len = 1 + (state % 12) as usize;
            let trace: Vec<u64> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % 5
                })
                .collect();
            for frames in 1..=3 {
                assert_eq!(
                    replay_optimal(&trace, frames).hits,
                    brute_force_optimum(&trace, frames),
                    "{trace:?} with {frames} frames"
                );
            }
        }
    }

    #[test]
    fn a_loop_one_page_larger_than_the_pool_defeats_lru() {
        // 0 1 2 3 0 1 2 3 ... with 3 frames: LRU always evicts the page
        // needed next.
        let trace: Vec<u64> = (0..400).map(|i| i % 4).collect();
        let lru = replay(&trace, 3, ReplacerKind::Lru);
        assert_eq!(lru.hits, 0);
        let opt = replay_optimal(&trace, 3);
        assert!(opt.hits > 250, "{opt:?}");
    }

    #[test]
    fn lru_keeps_the_recently_used_page() {
        // With 2 frames: 1 2 1 3 1 -> LRU evicts 2 for 3 and hits 1 twice.
        let lru = replay(&[1, 2, 1, 3, 1], 2, ReplacerKind::Lru);
        assert_eq!(lru.hits, 2);
    }

    #[test]
    fn no_policy_beats_optimal_and_everything_fits_when_the_pool_does() {
        let mut state = 7u64;
        let trace: Vec<u64> = (0..5_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 33) % 300
            })
            .collect();
        let distinct = distinct_pages(&trace);
        for frames in [3, 30, 150] {
            let opt = replay_optimal(&trace, frames).hits;
            for kind in [ReplacerKind::Lru, ReplacerKind::Clock] {
                let got = replay(&trace, frames, kind).hits;
                assert!(got <= opt, "{kind:?} with {frames}: {got} > OPT {opt}");
            }
        }
        let compulsory = (trace.len() - distinct) as u64;
        for kind in [ReplacerKind::Lru, ReplacerKind::Clock] {
            assert_eq!(replay(&trace, distinct, kind).hits, compulsory);
        }
        assert_eq!(replay_optimal(&trace, distinct).hits, compulsory);
    }
}
