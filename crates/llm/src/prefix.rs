//! Which token sequences the engine keeps in its KV cache after a request ends, so that a
//! later prompt starting the same way skips computing that start.
//!
//! Prompt processing dominates on a CPU: a few-shot prompt of 1000 tokens costs the 1.5B
//! model about 50 seconds on two cores, and every problem of an evaluation, every sample of
//! a retry and every turn of a tutoring session repeats most of its predecessor's prompt.
//! The engine therefore keeps the last few finished sequences on spare sequence ids; a new
//! request copies the longest matching prefix (`kv_cache_seq_cp`, which shares cells
//! instead of copying them) and computes only the rest.
//!
//! This file is the bookkeeping alone — which entry holds what, which to reuse or evict —
//! so it is tested without a model; the scheduler performs the KV operations it decides.
//!
//! Cell accounting is deliberately conservative: every entry is charged its full length
//! even when it shares cells with another entry or with a running request, and a request
//! that reuses a prefix is still charged its whole prompt. Shared cells are thus counted
//! more than once, never less, so an entry can be evicted at any moment without a running
//! request's cells going uncounted.

/// Shortest prefix worth reusing or keeping.
pub(crate) const MIN_PREFIX: usize = 16;

#[derive(Debug)]
struct Entry<T> {
    seq: i32,
    tokens: Vec<T>,
    last_used: u64,
}

/// What to do with a finished sequence's tokens.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Store {
    /// Nothing: too short, or an entry already starts with these tokens.
    Skip,
    /// Clear `seq` and the `evicted` sequences (together they were charged `freed` cells),
    /// then copy the tokens into `seq`.
    Into { seq: i32, evicted: Vec<i32>, freed: usize },
}

/// The cached sequences: at most one entry per spare sequence id, charged at most
/// `budget` cells in total.
#[derive(Debug)]
pub(crate) struct PrefixCache<T> {
    entries: Vec<Entry<T>>,
    free: Vec<i32>,
    budget: usize,
    clock: u64,
}

impl<T: Copy + PartialEq> PrefixCache<T> {
    /// A cache over the sequence ids `seqs` (none: caching is off).
    pub(crate) fn new(seqs: impl IntoIterator<Item = i32>, budget: usize) -> Self {
        let mut free: Vec<i32> = seqs.into_iter().collect();
        free.reverse();
        Self { entries: Vec::new(), free, budget, clock: 0 }
    }

    /// Cells charged to the entries.
    pub(crate) fn cells(&self) -> usize {
        self.entries.iter().map(|e| e.tokens.len()).sum()
    }

    /// The entry sharing the longest prefix with `prompt`, and how many of its tokens the
    /// prompt can reuse. At least one prompt token is always left to compute, because the
    /// first sampled token needs the last prompt token's logits.
    pub(crate) fn lookup(&mut self, prompt: &[T]) -> Option<(i32, usize)> {
        let limit = prompt.len().saturating_sub(1);
        let (index, shared) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(limit)))
            .max_by_key(|&(i, shared)| (shared, self.entries[i].last_used))?;
        if shared < MIN_PREFIX {
            return None;
        }
        self.clock += 1;
        self.entries[index].last_used = self.clock;
        Some((self.entries[index].seq, shared))
    }

    /// Drops the least recently used entry: its sequence id and the cells it was charged.
    /// The caller clears that sequence from the KV cache.
    pub(crate) fn evict_oldest(&mut self) -> Option<(i32, usize)> {
        let index =
            self.entries.iter().enumerate().min_by_key(|(_, e)| e.last_used).map(|(i, _)| i)?;
        let entry = self.entries.swap_remove(index);
        self.free.push(entry.seq);
        Some((entry.seq, entry.tokens.len()))
    }

    /// Decides where `tokens` go and records them there: an entry that is a prefix of them
    /// is extended in place (a tutoring session keeps one entry that grows turn by turn),
    /// otherwise a free id or the oldest entry's; older entries are evicted until the
    /// budget has room. The caller clears the returned sequences and copies the cells.
    pub(crate) fn store(&mut self, tokens: &[T]) -> Store {
        if tokens.len() < MIN_PREFIX || tokens.len() > self.budget {
            return Store::Skip;
        }
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.iter_mut().find(|e| e.tokens.starts_with(tokens)) {
            entry.last_used = clock;
            return Store::Skip;
        }
        let mut freed = 0;
        let mut evicted = Vec::new();
        if let Some(index) = self.entries.iter().position(|e| tokens.starts_with(&e.tokens)) {
            let entry = self.entries.swap_remove(index);
            freed += entry.tokens.len();
            // Listed for clearing: the id handed out below may be another one.
            evicted.push(entry.seq);
            self.free.push(entry.seq);
        }
        while self.free.is_empty() || self.cells() + tokens.len() > self.budget {
            match self.evict_oldest() {
                Some((seq, cells)) => {
                    freed += cells;
                    evicted.push(seq);
                }
                None if self.free.is_empty() => return Store::Skip,
                None => break,
            }
        }
        let seq = self.free.pop().expect("a free id was ensured");
        self.entries.push(Entry { seq, tokens: tokens.to_vec(), last_used: clock });
        Store::Into { seq, evicted, freed }
    }

    /// Forgets every entry (the KV cache was cleared).
    pub(crate) fn clear(&mut self) {
        for entry in self.entries.drain(..) {
            self.free.push(entry.seq);
        }
    }
}

fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(range: std::ops::Range<i32>) -> Vec<i32> {
        range.collect()
    }

    #[test]
    fn reuses_the_longest_prefix_but_leaves_one_token_to_compute() {
        let mut cache = PrefixCache::new([10, 11], 1000);
        assert!(matches!(cache.store(&tokens(0..40)), Store::Into { seq: 10, .. }));
        let mut other = tokens(0..20);
        other.extend(100..130);
        assert!(matches!(cache.store(&other), Store::Into { seq: 11, .. }));

        assert_eq!(cache.lookup(&tokens(0..100)), Some((10, 40)));
        assert_eq!(cache.lookup(&tokens(0..40)), Some((10, 39)), "last token is recomputed");
        let mut prompt = other.clone();
        prompt.push(7);
        assert_eq!(cache.lookup(&prompt), Some((11, 50)));
        assert_eq!(cache.lookup(&tokens(0..10)), None, "shorter than MIN_PREFIX");
        assert_eq!(cache.lookup(&tokens(1000..1100)), None);
    }

    #[test]
    fn a_growing_conversation_keeps_one_entry() {
        let mut cache = PrefixCache::new([5, 6, 7], 1000);
        assert_eq!(cache.store(&tokens(0..30)), Store::Into { seq: 5, evicted: vec![], freed: 0 });
        assert_eq!(
            cache.store(&tokens(0..50)),
            Store::Into { seq: 5, evicted: vec![5], freed: 30 }
        );
        assert_eq!(cache.store(&tokens(0..45)), Store::Skip, "already covered");
        assert_eq!(cache.cells(), 50);
    }

    #[test]
    fn evicts_the_least_recently_used_entry_when_ids_or_budget_run_out() {
        let mut cache = PrefixCache::new([1, 2], 100);
        cache.store(&tokens(0..40));
        cache.store(&tokens(200..240));
        // Touch the first so the second is the oldest.
        assert!(cache.lookup(&tokens(0..41)).is_some());
        assert_eq!(
            cache.store(&tokens(400..440)),
            Store::Into { seq: 2, evicted: vec![2], freed: 40 },
            "no free id: the oldest entry's id is reused"
        );
        assert_eq!(
            cache.store(&tokens(600..680)),
            Store::Into { seq: 2, evicted: vec![1, 2], freed: 80 },
            "80 more cells need both old entries gone"
        );
        assert_eq!(cache.cells(), 80);
        assert_eq!(cache.store(&tokens(0..101)), Store::Skip, "larger than the budget");
        assert_eq!(cache.evict_oldest(), Some((2, 80)));
        assert_eq!(cache.evict_oldest(), None);
    }

    #[test]
    fn an_extended_entry_is_cleared_even_when_its_id_is_not_reused() {
        let mut cache = PrefixCache::new([1, 2], 1050);
        cache.store(&tokens(0..30));
        cache.store(&tokens(1000..2000));
        // Extending 0..30 to 0..100 needs the 1000-token entry gone too; whichever id is
        // handed out, both old entries must be cleared.
        let Store::Into { seq, evicted, freed } = cache.store(&tokens(0..100)) else {
            panic!("stored")
        };
        assert!(evicted.contains(&1) && evicted.contains(&2), "{evicted:?}");
        assert!([1, 2].contains(&seq));
        assert_eq!(freed, 1030);
        assert_eq!(cache.cells(), 100);
    }

    #[test]
    fn without_spare_ids_nothing_is_kept() {
        let mut cache: PrefixCache<i32> = PrefixCache::new([], 1000);
        assert_eq!(cache.store(&tokens(0..40)), Store::Skip);
        assert_eq!(cache.lookup(&tokens(0..40)), None);
    }
}
