//! The clock check: this machine's clock against the API server's (the `Date` header of its
//! answer). Beyond [`MAX_SKEW_SECS`] the user's credentials and the TLS certificates are judged by a
//! wrong "now".

use super::report::Report;

/// The skew above which `doctor` warns.
pub const MAX_SKEW_SECS: i64 = 60;

const NAME: &str = "clock";

/// Adds the clock check for an offset (API server time minus local time, seconds).
pub(crate) fn check(r: &mut Report, offset_secs: i64) {
    let skew = offset_secs.unsigned_abs();
    if offset_secs.abs() <= MAX_SKEW_SECS {
        r.ok(NAME, &format!("within {skew} s of the API server's clock"));
        return;
    }
    let direction = if offset_secs > 0 { "behind" } else { "ahead of" };
    r.warn(
        NAME,
        &format!(
            "this machine's clock is {skew} s {direction} the API server's: tokens (exec plugins, OIDC, \
             service-account tokens) can be refused as expired or not yet valid, and TLS certificates as \
             expired or not yet valid; kubewire judges the nodes' readiness by the API server's clock"
        ),
        "sync this machine's clock: `sudo timedatectl set-ntp true` (Linux), `sudo sntp -sS time.apple.com` \
         (macOS), `w32tm /resync` (Windows, as administrator)",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{JsonStatus, json};

    fn judged(offset: i64) -> crate::doctor::JsonCheck {
        let mut r = Report::default();
        check(&mut r, offset);
        json(&r.checks).checks.remove(0)
    }

    #[test]
    fn a_small_skew_is_ok_and_a_large_one_warns_with_why_and_the_fix() {
        let ok = judged(-3);
        assert_eq!(
            (ok.status, ok.detail.as_str()),
            (JsonStatus::Ok, "within 3 s of the API server's clock")
        );
        assert_eq!(judged(60).status, JsonStatus::Ok);
        let behind = judged(600);
        assert_eq!(behind.status, JsonStatus::Warn);
        assert!(
            behind
                .detail
                .starts_with("this machine's clock is 600 s behind the API server's"),
            "{}",
            behind.detail
        );
        assert!(
            behind.detail.contains("expired") && behind.detail.contains("certificates"),
            "{}",
            behind.detail
        );
        assert!(behind.fix.unwrap().contains("timedatectl set-ntp true"));
        assert!(judged(-61).detail.contains("61 s ahead of"));
    }
}
