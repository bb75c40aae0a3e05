//! Order statistics the scores are built from: quantiles, median absolute
//! deviation, Bowley's quartile skewness.

/// The `q`-quantile (0–1) of sorted values, interpolated linearly; `None`
/// when there are none.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = q.clamp(0.0, 1.0) * last as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    let frac = at - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * frac)
}

/// The median of unsorted values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    quantile(&sorted, 0.5)
}

/// The median absolute deviation from the median.
pub fn mad(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// Bowley's skewness, `(Q1 + Q3 - 2·Q2) / (Q3 - Q1)`, in −1..1; 0 when the
/// quartiles coincide (perfectly regular values are not skewed).
pub fn bowley_skewness(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (q1, q2, q3) = (
        quantile(&sorted, 0.25)?,
        quantile(&sorted, 0.5)?,
        quantile(&sorted, 0.75)?,
    );
    let spread = q3 - q1;
    if spread.abs() < f64::EPSILON
        || (q2 - q1).abs() < f64::EPSILON && (q3 - q2).abs() < f64::EPSILON
    {
        return Some(0.0);
    }
    Some(((q1 + q3 - 2.0 * q2) / spread).clamp(-1.0, 1.0))
}

/// The most frequent value (the smallest of ties).
pub fn mode(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut best = (*sorted.first()?, 0usize);
    let mut run = (sorted[0], 0usize);
    for &v in &sorted {
        if v == run.0 {
            run.1 += 1;
        } else {
            run = (v, 1);
        }
        if run.1 > best.1 {
            best = run;
        }
    }
    Some(best.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), Some(1.0));
        assert_eq!(bowley_skewness(&[60.0; 10]), Some(0.0));
        // Quartiles 1.75, 2.5, 6.25 of 1..=4,5..: skewed right.
        let skew = bowley_skewness(&[1.0, 2.0, 2.0, 3.0, 10.0, 20.0]).expect("values");
        assert!(skew > 0.5, "{skew}");
        assert_eq!(mode(&[5.0, 1.0, 5.0, 2.0]), Some(5.0));
        assert_eq!(median(&[]), None);
    }
}
