//! The calendar of a certification: it lasts 12 months from its date, a re-test is due in its last 60
//! days, and after that it is expired (kept, and shown as such). A newer certification of the same
//! platform for the same version supersedes the older one, which stays in the history.
//!
//! Dates are civil dates (no time of day, no zone): the program certifies on a day, and a day is what a
//! badge shows. They are stored as `YYYY-MM-DD` text, which sorts and compares as dates in both SQLite
//! and PostgreSQL.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a certification lasts.
pub const VALID_MONTHS: i32 = 12;
/// How many days before expiry a re-test is due.
pub const RETEST_DAYS: i32 = 60;

/// Where a certification's date comes from: the registry says which, because a date taken from the
/// moment of import is only "no later than", not the day the program certified the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateSource {
    /// Stated by the submitter (`--certified-on`, or `certified_on` in an HTTP submission).
    Submission,
    /// The day the submission was added to the registry (`kaic registry add` or the HTTP endpoint).
    Added,
    /// The day the tree was imported (`kaic registry import`).
    Imported,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submission => "submission",
            Self::Added => "added",
            Self::Imported => "imported",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Submission, Self::Added, Self::Imported].into_iter().find(|s| s.as_str() == text)
    }

    /// For people: where the date comes from.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Submission => "as stated in the submission",
            Self::Added => "the day it was added to the registry",
            Self::Imported => "the day it was imported into the registry; the submission states no date",
        }
    }
}

/// The state of a certification on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Certified, more than 60 days before expiry.
    Valid,
    /// Still certified, but in its last 60 days: a re-test is due.
    RetestDue,
    /// Past its 12 months.
    Expired,
    /// Replaced by a newer certification of the same platform and version (history only).
    Superseded,
}

impl State {
    pub const FILTERABLE: [State; 3] = [State::Valid, State::RetestDue, State::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::RetestDue => "retest_due",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Valid, Self::RetestDue, Self::Expired, Self::Superseded].into_iter().find(|s| s.as_str() == text)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Valid => "Certified",
            Self::RetestDue => "Certified, re-test due",
            Self::Expired => "Expired",
            Self::Superseded => "Superseded",
        }
    }
}

/// The last day a certification dated `certified` is valid is the day before this one: 12 calendar
/// months later (29 February certifies until 28 February).
pub fn expiry(certified: Date) -> Date {
    // jiff clamps the day to the end of the month, so 29 Feb + 12 months is 28 Feb. Saturating keeps the
    // far future (year 9999) from panicking; such a date cannot come from a real submission anyway.
    certified.checked_add(VALID_MONTHS.months()).unwrap_or(Date::MAX)
}

/// The first day of the re-test window of a certification expiring on `expires`.
pub fn retest_from(expires: Date) -> Date {
    expires.checked_sub(RETEST_DAYS.days()).unwrap_or(Date::MIN)
}

/// The state of a current (not superseded) certification expiring on `expires`, on `today`.
pub fn state_on(expires: Date, today: Date) -> State {
    if today >= expires {
        State::Expired
    } else if today >= retest_from(expires) {
        State::RetestDue
    } else {
        State::Valid
    }
}

/// Today in UTC: the registry's days are UTC days, so two servers agree on a state.
pub fn today() -> Date {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// Parses a `YYYY-MM-DD` date as given on the command line or in a submission.
///
/// # Errors
/// A message naming the value and the expected form.
pub fn parse_date(text: &str) -> Result<Date, String> {
    text.trim().parse::<Date>().map_err(|e| format!("'{text}' is not a date of the form YYYY-MM-DD: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_certification_lasts_twelve_calendar_months() {
        assert_eq!(expiry(date(2026, 1, 10)), date(2027, 1, 10));
        assert_eq!(expiry(date(2026, 12, 31)), date(2027, 12, 31));
        // A leap day certifies until the last day of February of the next year.
        assert_eq!(expiry(date(2028, 2, 29)), date(2029, 2, 28));
    }

    #[test]
    fn the_retest_window_is_the_last_sixty_days() {
        let expires = date(2027, 3, 1);
        assert_eq!(retest_from(expires), date(2026, 12, 31));
        assert_eq!(state_on(expires, date(2026, 12, 30)), State::Valid);
        assert_eq!(state_on(expires, date(2026, 12, 31)), State::RetestDue);
        assert_eq!(state_on(expires, date(2027, 2, 28)), State::RetestDue);
        assert_eq!(state_on(expires, date(2027, 3, 1)), State::Expired);
        assert_eq!(state_on(expires, date(2030, 1, 1)), State::Expired);
    }

    #[test]
    fn states_and_sources_round_trip_their_names() {
        for s in [State::Valid, State::RetestDue, State::Expired, State::Superseded] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for s in [DateSource::Submission, DateSource::Added, DateSource::Imported] {
            assert_eq!(DateSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("certified"), None);
    }

    #[test]
    fn a_bad_date_names_the_form() {
        assert_eq!(parse_date(" 2026-01-10 ").unwrap(), date(2026, 1, 10));
        let err = parse_date("10/01/2026").unwrap_err();
        assert!(err.contains("'10/01/2026'") && err.contains("YYYY-MM-DD"), "{err}");
        assert!(parse_date("2026-02-30").is_err());
    }
}
