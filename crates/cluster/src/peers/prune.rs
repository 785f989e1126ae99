//! Which of kubewire's Peers `kubewire peers prune --older-than D` removes, pure: a Peer goes only when
//! it carries kubewire's label, is not this laptop's current one (its key or the Peer of the running
//! session), and its last connect is known and older than D. A Peer with no last connect recorded
//! (one an admin enrolled, or one an earlier kubewire registered) stays: nothing says it is unused.

use serde::Serialize;

use super::PeerRecord;

/// What becomes of one Peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Last connect older than the limit: removed.
    Remove,
    /// Connected within the limit.
    Recent,
    /// This laptop's current Peer.
    Current,
    /// No last connect recorded.
    Unknown,
    /// Not labelled as kubewire's.
    NotKubewire,
}

impl Verdict {
    /// Why, in words.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Remove => "last connect older than the limit",
            Self::Recent => "connected within the limit",
            Self::Current => "this laptop's current Peer",
            Self::Unknown => "no last connect recorded",
            Self::NotKubewire => "not kubewire's",
        }
    }
}

/// This laptop's current Peer: its public key in this cluster and the Peer of a running session.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// The laptop's public key for this cluster (base64), if it has one.
    pub public_key: Option<String>,
    /// The Peer named in the daemon's session for this cluster.
    pub peer_name: Option<String>,
}

/// The verdict on each Peer at API time `now` (Unix seconds), in the order given.
#[must_use]
pub fn select(peers: &[PeerRecord], now: u64, older_than_secs: u64, current: &Current) -> Vec<Verdict> {
    peers
        .iter()
        .map(|p| {
            if !p.managed {
                Verdict::NotKubewire
            } else if current.public_key.as_deref() == Some(p.public_key.as_str())
                || current.peer_name.as_deref() == Some(p.name.as_str())
            {
                Verdict::Current
            } else {
                match p.last_connect {
                    None => Verdict::Unknown,
                    Some(at) if now.saturating_sub(at) > older_than_secs => Verdict::Remove,
                    Some(_) => Verdict::Recent,
                }
            }
        })
        .collect()
}

/// A duration as `30d`, `12h`, `90m`, `45s` or `2w`, in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30d, 12h, 90m or 45s"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("{text:?}: the unit must be s, m, h, d or w (e.g. 30d)")),
    };
    n.checked_mul(unit_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const NOW: u64 = 1_800_000_000;

    fn peer(name: &str, key: &str, last_connect: Option<u64>, managed: bool) -> PeerRecord {
        PeerRecord {
            name: name.into(),
            user: Some("jane".into()),
            host: Some("laptop".into()),
            allowed_ips: vec!["10.4.200.7/32".into()],
            public_key: key.into(),
            last_connect,
            enrolled: None,
            managed,
        }
    }

    #[test]
    fn only_kubewires_stale_peers_that_are_not_current_go() {
        let peers = [
            peer("old", "k1", Some(NOW - 31 * DAY), true),
            peer("fresh", "k2", Some(NOW - 29 * DAY), true),
            peer("mine", "k3", Some(NOW - 90 * DAY), true),
            peer("session", "k4", Some(NOW - 90 * DAY), true),
            peer("someone-elses", "k5", Some(NOW - 90 * DAY), false),
            peer("enrolled", "k6", None, true),
        ];
        let current = Current {
            public_key: Some("k3".into()),
            peer_name: Some("session".into()),
        };
        assert_eq!(
            select(&peers, NOW, 30 * DAY, &current),
            [
                Verdict::Remove,
                Verdict::Recent,
                Verdict::Current,
                Verdict::Current,
                Verdict::NotKubewire,
                Verdict::Unknown
            ]
        );
        // A stamp from a clock ahead of the API server's is recent, not a wrap-around.
        let ahead = [peer("ahead", "k7", Some(NOW + DAY), true)];
        assert_eq!(select(&ahead, NOW, 0, &Current::default()), [Verdict::Recent]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * DAY));
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("90m"), Ok(90 * 60));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(14 * DAY));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("30 days").is_err());
        assert!(parse_duration("99999999999999999999w").is_err());
    }
}
