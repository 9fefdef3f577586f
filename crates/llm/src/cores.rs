//! How many threads the engine should use.
//!
//! ggml's worker threads busy-wait between operations, so a thread count above the cores
//! that are actually free (because sandbox jobs, a build, or another engine run on them)
//! makes every thread wait on a preempted one and collapses speed by an order of magnitude.
//! The default is therefore the cores that are idle now, not the cores that exist.

use std::time::Duration;

/// `HYPATIA_THREADS` if set, else the cores idle over a short sample of `/proc/stat`
/// (at least 1, at most the cores this process may run on).
pub fn free_cores() -> usize {
    if let Some(n) = std::env::var("HYPATIA_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        return n.max(1);
    }
    let allowed = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    match busy_cores(Duration::from_millis(150)) {
        Some(busy) => allowed.saturating_sub(busy.round() as usize).clamp(1, allowed),
        None => allowed,
    }
}

/// Cores' worth of CPU time spent busy (by anyone) during `window`, from `/proc/stat`.
fn busy_cores(window: Duration) -> Option<f64> {
    let (busy0, total0, ncpu) = read_stat()?;
    std::thread::sleep(window);
    let (busy1, total1, _) = read_stat()?;
    let total = total1.checked_sub(total0)? as f64;
    if total <= 0.0 {
        return None;
    }
    Some(busy1.saturating_sub(busy0) as f64 / total * ncpu as f64)
}

/// (busy jiffies, total jiffies, cpu count) summed over all CPUs.
fn read_stat() -> Option<(u64, u64, usize)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut lines = stat.lines();
    let all: Vec<u64> =
        lines.next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    if all.len() < 5 {
        return None;
    }
    let idle = all[3] + all[4]; // idle + iowait
    let total: u64 = all.iter().take(8).sum();
    let ncpu = lines.filter(|l| l.starts_with("cpu")).count().max(1);
    Some((total - idle, total, ncpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_cores_is_within_the_machine() {
        let allowed = std::thread::available_parallelism().unwrap().get();
        let n = free_cores();
        assert!(n >= 1 && n <= allowed.max(n), "{n} of {allowed}");
    }

    #[test]
    fn proc_stat_is_readable_on_linux() {
        let (busy, total, ncpu) = read_stat().expect("/proc/stat");
        assert!(busy <= total && ncpu >= 1);
    }
}
