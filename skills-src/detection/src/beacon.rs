//! Beacon scoring the way RITA does it: an implant that calls home on a
//! timer makes connections whose intervals and sizes barely vary. Each
//! pair's timestamps and sizes give six sub-scores in 0–1 (Bowley skewness
//! and median absolute deviation of the intervals and of the sizes, the
//! connection count against the window, how small the usual size is),
//! averaged; a pair whose connections stay open across the window scores
//! by that share instead when it is higher.

use serde::{Deserialize, Serialize};

use crate::stats;

/// One connection of a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Connection {
    /// Start, epoch milliseconds.
    pub start_ms: i64,
    /// Bytes both ways.
    pub bytes: f64,
    /// How long it stayed open, in seconds.
    pub duration_s: f64,
}

/// Why a pair scored what it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeaconScore {
    /// The combined score, 0–1.
    pub score: f64,
    /// 1 − |Bowley skewness| of the intervals.
    pub interval_skew_score: f64,
    /// 1 − MAD/median of the intervals.
    pub interval_mad_score: f64,
    /// Connections against one per hour of the window.
    pub count_score: f64,
    /// 1 − |Bowley skewness| of the sizes.
    pub size_skew_score: f64,
    /// 1 − MAD/32 bytes of the sizes.
    pub size_mad_score: f64,
    /// 1 − usual size / 64 KiB.
    pub size_smallness_score: f64,
    /// The share of the window its connections were open.
    pub duration_score: f64,
    /// Connections scored.
    pub connections: usize,
    /// The median interval, in seconds.
    pub median_interval_s: f64,
    /// The median size, in bytes.
    pub median_bytes: f64,
}

/// Fewest connections a pair needs before its regularity means anything.
pub const MIN_CONNECTIONS: usize = 10;

/// Scores one pair's connections over a window of `window_s` seconds;
/// `None` when there are too few.
pub fn score(connections: &[Connection], window_s: f64) -> Option<BeaconScore> {
    if connections.len() < MIN_CONNECTIONS || window_s <= 0.0 {
        return None;
    }
    let mut starts: Vec<i64> = connections.iter().map(|c| c.start_ms).collect();
    starts.sort_unstable();
    let intervals: Vec<f64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1000.0)
        .collect();
    let sizes: Vec<f64> = connections.iter().map(|c| c.bytes).collect();
    let median_interval = stats::median(&intervals)?;
    let interval_skew_score = 1.0 - stats::bowley_skewness(&intervals)?.abs();
    let interval_mad_score = if median_interval > 0.0 {
        (1.0 - stats::mad(&intervals)? / median_interval).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let hours = (window_s / 3600.0).max(1.0);
    let count_score = (connections.len() as f64 / hours).min(1.0);
    let size_skew_score = 1.0 - stats::bowley_skewness(&sizes)?.abs();
    let size_mad_score = (1.0 - stats::mad(&sizes)? / 32.0).clamp(0.0, 1.0);
    let size_smallness_score = (1.0 - stats::mode(&sizes)? / 65_535.0).clamp(0.0, 1.0);
    let open: f64 = connections.iter().map(|c| c.duration_s.max(0.0)).sum();
    let duration_score = (open / window_s).clamp(0.0, 1.0);
    let mean = (interval_skew_score
        + interval_mad_score
        + count_score
        + size_skew_score
        + size_mad_score
        + size_smallness_score)
        / 6.0;
    Some(BeaconScore {
        score: mean.max(duration_score),
        interval_skew_score,
        interval_mad_score,
        count_score,
        size_skew_score,
        size_mad_score,
        size_smallness_score,
        duration_score,
        connections: connections.len(),
        median_interval_s: median_interval,
        median_bytes: stats::median(&sizes)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(
        interval_s: impl Fn(usize) -> f64,
        bytes: impl Fn(usize) -> f64,
        n: usize,
    ) -> Vec<Connection> {
        let mut t = 0.0;
        (0..n)
            .map(|i| {
                t += interval_s(i);
                Connection {
                    start_ms: (t * 1000.0) as i64,
                    bytes: bytes(i),
                    duration_s: 0.1,
                }
            })
            .collect()
    }

    #[test]
    fn a_timer_scores_high_and_jitter_scores_low() {
        let beacon = score(&series(|_| 60.0, |_| 300.0, 60), 3600.0).expect("scored");
        assert!(beacon.score > 0.95, "{beacon:?}");
        assert_eq!(beacon.median_interval_s, 60.0);

        // Browsing: intervals and sizes all over the place.
        let noisy = score(
            &series(
                |i| [1.0, 40.0, 3.0, 300.0, 7.0, 90.0, 2.0][i % 7],
                |i| [200.0, 90_000.0, 1_500.0, 40_000.0, 600.0][i % 5],
                60,
            ),
            3600.0,
        )
        .expect("scored");
        assert!(noisy.score < 0.6, "{noisy:?}");
    }

    #[test]
    fn too_few_connections_are_not_scored() {
        assert!(score(&series(|_| 60.0, |_| 1.0, MIN_CONNECTIONS - 1), 3600.0).is_none());
    }
}
