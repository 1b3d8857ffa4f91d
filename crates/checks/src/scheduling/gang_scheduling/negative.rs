//! Judging a negative case: a gang larger than free capacity must be *held back*, and kaic needs proof of
//! that, not silence. Silence for a while can mean a gang scheduler doing its job, or a slow scheduler, a
//! Job controller that has not created the pods yet, or a scheduler that never looked. So:
//!
//! - the window starts only when every member of the gang exists ([`super::observe::Start`]);
//! - it lasts at least [`crate::timeouts::Wait::GangWindow`], and three times the bind latency measured
//!   in the positive case (a scheduler that needed 5 s to bind a gang that fits proves nothing in 12 s);
//! - during it, a positive signal that the gang was considered and held back is required: a pod's
//!   `PodScheduled=False` with the scheduler's reason, the pod group's condition, or the Kueue Workload not
//!   admitted. Without one the case is undecided, never a pass;
//! - a gang bound *whole* during the window means capacity appeared (another pod finished): inconclusive,
//!   tried once more; a gang bound *partly* is the failure this case looks for.

use std::time::Duration;

use super::observe::Window;

/// What one observation window showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// No member was bound and the scheduler said why: the gang was held back.
    Held { signal: String },
    /// No member was bound, but nothing showed that a scheduler considered the gang.
    NoSignal,
    /// Not every member of the gang existed, so no window started (and none was bound).
    MembersMissing { existed: usize },
    /// Some members were bound, never all at once: the gang was started partially.
    Partial,
    /// Every member was bound together: capacity appeared during the window.
    Whole,
}

/// The window's length: the table's minimum, or three times the positive case's bind latency if longer.
pub fn window_length(minimum: Duration, positive_bind: Duration) -> Duration {
    minimum.max(positive_bind * 3)
}

/// Judges a window of a gang of `size`; `group_signal` is what the gang's own object (PodGroup, Kueue
/// Workload) says about being held back, when it says anything.
pub fn judge(window: &Window, size: usize, group_signal: Option<String>) -> Judgement {
    if !window.ever_bound.is_empty() {
        return if window.peak_running >= size { Judgement::Whole } else { Judgement::Partial };
    }
    if window.members_after.is_none() {
        return Judgement::MembersMissing { existed: window.pods_at_end };
    }
    match window.held.clone().or(group_signal) {
        Some(signal) => Judgement::Held { signal },
        None => Judgement::NoSignal,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn window(bound: &[(&str, u64)], peak: usize, members_after: Option<u64>, held: Option<&str>) -> Window {
        Window {
            ever_bound: bound
                .iter()
                .map(|(p, at)| (p.to_string(), ("n1".to_string(), secs(*at))))
                .collect::<BTreeMap<_, _>>(),
            peak_running: peak,
            pods_at_end: 4,
            members_after: members_after.map(secs),
            length: secs(12),
            held: held.map(str::to_string),
            ..Window::default()
        }
    }

    #[test]
    fn a_held_gang_needs_the_schedulers_word() {
        let held =
            window(&[], 0, Some(1), Some("pod a: PodScheduled=False Unschedulable: 3/4 tasks in gang unschedulable"));
        assert_eq!(
            judge(&held, 4, None),
            Judgement::Held {
                signal: "pod a: PodScheduled=False Unschedulable: 3/4 tasks in gang unschedulable".into()
            }
        );
        // The group's own condition is proof too.
        let quiet = window(&[], 0, Some(1), None);
        assert_eq!(
            judge(&quiet, 4, Some("Workload QuotaReserved=False Pending".into())),
            Judgement::Held { signal: "Workload QuotaReserved=False Pending".into() }
        );
    }

    #[test]
    fn a_slow_scheduler_that_never_looked_is_no_pass() {
        assert_eq!(judge(&window(&[], 0, Some(2), None), 4, None), Judgement::NoSignal);
    }

    #[test]
    fn pods_never_created_start_no_window() {
        let mut never = window(&[], 0, None, None);
        never.pods_at_end = 2;
        assert_eq!(judge(&never, 4, Some("ignored".into())), Judgement::MembersMissing { existed: 2 });
    }

    #[test]
    fn a_gang_bound_whole_is_inconclusive_and_a_partial_one_fails() {
        let whole = window(&[("a", 3), ("b", 3), ("c", 3), ("d", 3)], 4, Some(0), None);
        assert_eq!(judge(&whole, 4, None), Judgement::Whole);
        let partial = window(&[("a", 1), ("b", 1), ("c", 1)], 3, Some(0), Some("pod d: Unschedulable"));
        assert_eq!(judge(&partial, 4, None), Judgement::Partial, "a held-back pod does not excuse three bound ones");
        // Pods bound one after the other, never all at once: partial.
        let trickle = window(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)], 2, Some(0), None);
        assert_eq!(judge(&trickle, 4, None), Judgement::Partial);
    }

    #[test]
    fn the_window_grows_with_a_slow_scheduler() {
        assert_eq!(window_length(secs(12), Duration::from_millis(900)), secs(12));
        assert_eq!(window_length(secs(12), secs(7)), secs(21));
    }
}
