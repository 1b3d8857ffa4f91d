//! The judgements of `ai_inference`, as pure functions: the binomial acceptance interval of a weighted split,
//! whether an observed split lies in it, whether header-routed requests all reached their backend, and the
//! median of latency samples.
//!
//! The interval is exact (binomial quantiles, not a normal approximation): with `n` requests each sent to the
//! canary with probability `p`, a correct gateway lands outside `[lo, hi]` with probability at most
//! `1 - confidence`. kaic uses 99.9 %, so a correct gateway fails about once in a thousand runs, and a gateway
//! that ignores weights (0 % or 100 % to one backend) or splits 50/50 fails every time at n = 200.

use std::collections::BTreeMap;
use std::time::Duration;

/// The confidence of the acceptance interval.
pub const CONFIDENCE: f64 = 0.999;

/// The central acceptance interval, in counts, of Binomial(`n`, `p`) at `confidence`: the largest `lo` with
/// P(X < lo) <= (1 - confidence) / 2 and the smallest `hi` with P(X > hi) <= (1 - confidence) / 2.
pub fn binomial_interval(n: u32, p: f64, confidence: f64) -> (u32, u32) {
    if n == 0 || p <= 0.0 {
        return (0, 0);
    }
    if p >= 1.0 {
        return (n, n);
    }
    let tail = (1.0 - confidence) / 2.0;
    // Probabilities in log space: q^n underflows an f64 for n of a few hundred and p near 1.
    let mut log_pmf = Vec::with_capacity(n as usize + 1);
    let mut current = f64::from(n) * (1.0 - p).ln();
    log_pmf.push(current);
    for k in 0..n {
        current += (f64::from(n - k) / f64::from(k + 1)).ln() + (p / (1.0 - p)).ln();
        log_pmf.push(current);
    }
    let pmf: Vec<f64> = log_pmf.iter().map(|l| l.exp()).collect();
    let mut lo = 0;
    let mut below = 0.0;
    while lo < n && below + pmf[lo as usize] <= tail {
        below += pmf[lo as usize];
        lo += 1;
    }
    let mut hi = n;
    let mut above = 0.0;
    while hi > 0 && above + pmf[hi as usize] <= tail {
        above += pmf[hi as usize];
        hi -= 1;
    }
    (lo, hi)
}

/// What kaic saw of the weighted rule: responses by backend, and failures by status.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The backend expected to get `weight` of the requests (the canary, 20 %).
    pub minor: String,
    /// The other backend (80 %).
    pub major: String,
    /// Its share of the weights, 0–1.
    pub weight: f64,
    /// Successful responses by the backend that answered.
    pub by_backend: BTreeMap<String, u32>,
    /// Failed requests by status code (0: no response: connection refused, timeout).
    pub failures: BTreeMap<u16, u32>,
}

/// The judgement of a split: the interval and whether the observation lies in it, with the sentence that says so.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitJudgement {
    pub passed: bool,
    /// Requests answered by one of the two backends.
    pub n: u32,
    pub minor_count: u32,
    pub interval: (u32, u32),
    pub text: String,
}

/// `n` as a percentage of `of`, one decimal.
pub fn percent(n: u32, of: u32) -> String {
    if of == 0 { "-".into() } else { format!("{:.1} %", 100.0 * f64::from(n) / f64::from(of)) }
}

/// Judges the weighted rule: every request answered, only by the two backends, the minor backend's count in
/// the binomial interval.
pub fn judge_split(split: &Split) -> SplitJudgement {
    let minor_count = split.by_backend.get(&split.minor).copied().unwrap_or(0);
    let major_count = split.by_backend.get(&split.major).copied().unwrap_or(0);
    let others: u32 =
        split.by_backend.iter().filter(|(b, _)| **b != split.minor && **b != split.major).map(|(_, c)| c).sum();
    let failed: u32 = split.failures.values().sum();
    let n = minor_count + major_count;
    let interval = binomial_interval(n, split.weight, CONFIDENCE);
    let observed = format!(
        "{} of {n} to {} ({}), {major_count} to {} ({})",
        minor_count,
        split.minor,
        percent(minor_count, n),
        split.major,
        percent(major_count, n)
    );
    let bound = format!(
        "{:.0}/{:.0} expects {}–{} of {n} to {} ({}–{}, {:.1} % binomial interval)",
        100.0 * (1.0 - split.weight),
        100.0 * split.weight,
        interval.0,
        interval.1,
        split.minor,
        percent(interval.0, n).trim_end_matches(" %"),
        percent(interval.1, n),
        100.0 * CONFIDENCE
    );
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} requests failed ({})", describe_failures(&split.failures)));
    }
    if others > 0 {
        problems.push(format!("{others} answered by another backend ({:?})", split.by_backend));
    }
    let in_interval = n > 0 && (interval.0..=interval.1).contains(&minor_count);
    if !in_interval {
        problems.push(format!("the split is outside the interval: {bound}"));
    }
    let passed = problems.is_empty();
    let text = if passed { format!("{observed}; {bound}") } else { format!("{observed}; {}", problems.join("; ")) };
    SplitJudgement { passed, n, minor_count, interval, text }
}

/// `503 x3, no response x2`.
pub fn describe_failures(failures: &BTreeMap<u16, u32>) -> String {
    failures
        .iter()
        .map(|(code, count)| if *code == 0 { format!("no response x{count}") } else { format!("{code} x{count}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Judges the header rule: every request with the header answered by `expected`. Returns the sentence and
/// whether it passed.
pub fn judge_header(
    expected: &str,
    by_backend: &BTreeMap<String, u32>,
    failures: &BTreeMap<u16, u32>,
) -> (bool, String) {
    let total: u32 = by_backend.values().sum::<u32>() + failures.values().sum::<u32>();
    let hits = by_backend.get(expected).copied().unwrap_or(0);
    let passed = total > 0 && hits == total;
    let mut text = format!("{hits} of {total} to {expected}");
    let elsewhere: Vec<String> =
        by_backend.iter().filter(|(b, _)| *b != expected).map(|(b, c)| format!("{c} to {b}")).collect();
    if !elsewhere.is_empty() {
        text.push_str(&format!(", {}", elsewhere.join(", ")));
    }
    if !failures.is_empty() {
        text.push_str(&format!(", failed: {}", describe_failures(failures)));
    }
    (passed, text)
}

/// Judges requests whose header value differs only in case from the rule's: they must not match it, so not
/// every one may reach `header_backend` (with 20 requests on an 80/20 rule, a correct gateway sends them all to
/// the canary with probability 0.2^20); none may fail. Returns whether it passed and the sentence.
pub fn judge_other_case(
    header_backend: &str,
    other: &str,
    by_backend: &BTreeMap<String, u32>,
    failures: &BTreeMap<u16, u32>,
) -> (bool, String) {
    let to_header = by_backend.get(header_backend).copied().unwrap_or(0);
    let to_other = by_backend.get(other).copied().unwrap_or(0);
    let total: u32 = by_backend.values().sum();
    let mut text = format!("{to_other} to {other}, {to_header} to {header_backend}");
    if !failures.is_empty() {
        text.push_str(&format!(", failed: {}", describe_failures(failures)));
    }
    (failures.is_empty() && total > 0 && to_other > 0, text)
}

/// The median of `samples` (the mean of the middle two for an even count); `None` when empty.
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(minor: u32, major: u32, failures: &[(u16, u32)]) -> Split {
        Split {
            minor: "canary".into(),
            major: "stable".into(),
            weight: 0.2,
            by_backend: [("canary".to_string(), minor), ("stable".to_string(), major)]
                .into_iter()
                .filter(|(_, c)| *c > 0)
                .collect(),
            failures: failures.iter().copied().collect(),
        }
    }

    #[test]
    fn the_interval_is_binomial_and_central() {
        // Binomial(200, 0.2): mean 40, sd 5.66; 99.9 % central interval about ±3.3 sd.
        let (lo, hi) = binomial_interval(200, 0.2, CONFIDENCE);
        assert!((21..=24).contains(&lo) && (58..=61).contains(&hi), "{lo}..{hi}");
        // Symmetric in p.
        let (lo8, hi8) = binomial_interval(200, 0.8, CONFIDENCE);
        assert_eq!((lo8, hi8), (200 - hi, 200 - lo));
        assert_eq!(binomial_interval(10, 1.0, CONFIDENCE), (10, 10));
        assert_eq!(binomial_interval(10, 0.0, CONFIDENCE), (0, 0));
        // Large n does not underflow.
        let (lo, hi) = binomial_interval(5000, 0.2, CONFIDENCE);
        assert!(lo > 900 && hi < 1100, "{lo}..{hi}");
    }

    #[test]
    fn a_split_near_the_weights_passes_and_ignored_weights_fail() {
        let ok = judge_split(&split(41, 159, &[]));
        assert!(ok.passed, "{}", ok.text);
        assert!(ok.text.contains("41 of 200 to canary (20.5 %)"), "{}", ok.text);
        assert!(ok.text.contains("binomial interval"), "{}", ok.text);
        let all_to_one = judge_split(&split(0, 200, &[]));
        assert!(!all_to_one.passed);
        assert!(all_to_one.text.contains("0 of 200 to canary (0.0 %)"), "{}", all_to_one.text);
        assert!(all_to_one.text.contains("outside the interval"), "{}", all_to_one.text);
        assert!(!judge_split(&split(100, 100, &[])).passed, "50/50 is not 80/20");
        let failing = judge_split(&split(40, 155, &[(503, 5)]));
        assert!(!failing.passed && failing.text.contains("5 requests failed (503 x5)"), "{}", failing.text);
        assert!(!judge_split(&split(0, 0, &[(0, 200)])).passed);
    }

    #[test]
    fn header_routing_must_be_exact() {
        let all: BTreeMap<String, u32> = [("canary".to_string(), 50)].into_iter().collect();
        assert_eq!(judge_header("canary", &all, &BTreeMap::new()), (true, "50 of 50 to canary".to_string()));
        let leaked: BTreeMap<String, u32> =
            [("canary".to_string(), 49), ("stable".to_string(), 1)].into_iter().collect();
        let (passed, text) = judge_header("canary", &leaked, &BTreeMap::new());
        assert!(!passed);
        assert_eq!(text, "49 of 50 to canary, 1 to stable");
        let failed = judge_header("canary", &BTreeMap::new(), &[(404, 50)].into_iter().collect());
        assert_eq!(failed, (false, "0 of 50 to canary, failed: 404 x50".to_string()));
    }

    #[test]
    fn a_header_value_in_other_case_must_not_match() {
        let split: BTreeMap<String, u32> =
            [("canary".to_string(), 3), ("stable".to_string(), 17)].into_iter().collect();
        assert_eq!(
            judge_other_case("canary", "stable", &split, &BTreeMap::new()),
            (true, "17 to stable, 3 to canary".to_string())
        );
        let matched: BTreeMap<String, u32> = [("canary".to_string(), 20)].into_iter().collect();
        assert!(!judge_other_case("canary", "stable", &matched, &BTreeMap::new()).0);
        assert!(!judge_other_case("canary", "stable", &split, &[(503, 1)].into_iter().collect()).0);
    }

    #[test]
    fn median_of_even_and_odd_samples() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(median(&[ms(4), ms(1), ms(2), ms(3)]), Some(Duration::from_micros(2500)));
        assert_eq!(median(&[]), None);
    }
}
