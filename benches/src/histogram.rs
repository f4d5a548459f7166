//! A fixed-size latency histogram with bounded relative error, allocated once.
//!
//! Values (nanoseconds) are bucketed log-linearly: the power of two of the value picks a group,
//! and the next `SUB_BITS` bits pick one of `2^SUB_BITS` buckets inside it, so every bucket is at
//! most 1/32 (about 3 %) wide relative to its value.
//!
//! ```text
//!   value: 0b 0000 1 01101 0110...      group = position of the top 1 bit
//!                  ^ ^^^^^              sub-bucket = the 5 bits after it
//! ```

const SUB_BITS: u32 = 5;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
const GROUPS: usize = 64 - SUB_BITS as usize;

/// Counts of latencies, mergeable across threads.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; (GROUPS + 1) * SUB_BUCKETS], total: 0 }
    }
}

impl Histogram {
    /// Records one latency in nanoseconds.
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
    }

    /// Adds every count of `other` into `self`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// The value at quantile `q` (0.0..=1.0), as the upper edge of its bucket, in nanoseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_edge(index);
            }
        }
        upper_edge(self.counts.len() - 1)
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    let top = 63 - value.leading_zeros(); // >= SUB_BITS
    let group = (top - SUB_BITS + 1) as usize;
    let sub = ((value >> (top - SUB_BITS)) as usize) & (SUB_BUCKETS - 1);
    group * SUB_BUCKETS + sub
}

fn upper_edge(index: usize) -> u64 {
    let group = index / SUB_BUCKETS;
    let sub = (index % SUB_BUCKETS) as u64;
    if group == 0 {
        return sub;
    }
    let shift = group as u32 - 1;
    let edge = ((SUB_BUCKETS as u128 + u128::from(sub) + 1) << shift) - 1;
    u64::try_from(edge).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_bucket_error() {
        let mut histogram = Histogram::default();
        for value in 1..=100_000u64 {
            histogram.record(value * 10);
        }
        for (q, exact) in [(0.5, 500_000u64), (0.99, 990_000), (0.999, 999_000)] {
            let got = histogram.quantile(q);
            assert!(got >= exact, "q{q}: {got} < {exact}");
            assert!(got as f64 <= exact as f64 * 1.04, "q{q}: {got} too far above {exact}");
        }
    }

    #[test]
    fn every_value_lands_in_a_bucket_whose_edge_covers_it() {
        for value in (0..5000u64).chain([u64::MAX / 3, u64::MAX]) {
            let index = bucket_of(value);
            assert!(upper_edge(index) >= value, "{value}");
            if index > 0 {
                assert!(upper_edge(index - 1) < value, "{value}");
            }
        }
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.total, 2);
        assert!(a.quantile(1.0) >= 1_000_000);
    }
}
