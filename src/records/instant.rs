//! Whether a `Timestamp` is an exact instant: ISO 8601 / RFC 3339 date and time with seconds,
//! any fraction, and a zone (`Z` or `±hh:mm`), as Defender streams and the hunting API returns it
//! (`2026-07-18T12:59:31.2914446Z`). `CreateAlertByReference` takes this time as the event's
//! (<https://learn.microsoft.com/defender-endpoint/api/create-alert-by-reference>); a portal
//! display string or epoch milliseconds would name another moment or none.

/// Whether `s` is `YYYY-MM-DDThh:mm:ss[.f…](Z|±hh:mm)` with every field in range.
pub fn is_iso_instant(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let num = |from: usize, len: usize, max: u32| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        (n <= max).then_some(n)
    };
    let date_time = num(0, 4, 9999).is_some()
        && b[4] == b'-'
        && num(5, 2, 12).is_some_and(|m| m >= 1)
        && b[7] == b'-'
        && num(8, 2, 31).is_some_and(|d| d >= 1)
        && matches!(b[10], b'T' | b't')
        && num(11, 2, 23).is_some()
        && b[13] == b':'
        && num(14, 2, 59).is_some()
        && b[16] == b':'
        && num(17, 2, 60).is_some();
    if !date_time {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            };
            two(*h1, *h2).is_some_and(|h| h <= 23) && two(*m1, *m2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_as_defender_writes_them_are_accepted() {
        for s in [
            "2026-07-18T12:59:31.2914446Z",
            "2026-07-18T12:59:31Z",
            "2022-11-09T17:59:52.626Z",
            "2022-11-09T17:59:52.626+01:00",
            "2022-11-09t17:59:52-05:30",
        ] {
            assert!(is_iso_instant(s), "{s}");
        }
    }

    #[test]
    fn portal_strings_epochs_and_zoneless_times_are_not_instants() {
        for s in [
            "11/9/2022, 5:59:52.626 PM",
            "1668016792626",
            "2022-11-09T17:59:52.626",
            "2022-11-09 17:59:52.626Z",
            "2022-11-09T17:59:52.Z",
            "2022-13-09T17:59:52Z",
            "2022-11-09T24:00:00Z",
            "2022-11-09T17:59:52+0100",
            "2022-11-09T17:59:52Z trailing",
            "",
            "2022-11-09T17:5é:52Z",
        ] {
            assert!(!is_iso_instant(s), "{s}");
        }
    }
}
