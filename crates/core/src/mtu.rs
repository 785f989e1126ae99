//! The tunnel's MTU. By default it follows wg-quick's rule: the smallest MTU of the routes towards the
//! peers' endpoints, less 80 bytes of WireGuard overhead (a 40-byte IPv6 header, 8 of UDP, 32 of
//! WireGuard: the IPv6 worst case, so one figure serves both families), 1420 when no route says.
//! `connect --mtu` (a setting) overrides it. Pure: the daemon reads the underlay and passes it in.

use serde::{Deserialize, Serialize};

/// WireGuard's overhead counted the way wg-quick does (IPv6 outer header).
pub const WIREGUARD_OVERHEAD: u16 = 80;
/// The underlay assumed when no route towards an endpoint names an MTU (Ethernet's).
pub const DEFAULT_UNDERLAY: u16 = 1500;
/// The smallest and largest tunnel MTU kubewire sets (the policy's bounds).
pub const BOUNDS: std::ops::RangeInclusive<u16> = 576..=9000;

/// The MTU the tunnel gets and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelMtu {
    /// The interface's MTU.
    pub mtu: u16,
    /// Where it came from.
    pub source: MtuSource,
}

/// Where a [`TunnelMtu`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum MtuSource {
    /// The user set it (`connect --mtu`).
    Configured,
    /// The underlay: the smallest MTU of the routes towards the endpoints.
    Underlay {
        /// That MTU.
        underlay: u16,
    },
    /// No route towards an endpoint was known: Ethernet's 1500 less the overhead.
    Default,
}

impl TunnelMtu {
    /// The MTU for the tunnel: `configured` when given, else wg-quick's rule over the MTUs of the
    /// routes towards the endpoints (`None` for an endpoint whose route names none), clamped to
    /// [`BOUNDS`].
    #[must_use]
    pub fn choose(configured: Option<u16>, underlay: impl IntoIterator<Item = Option<u16>>) -> Self {
        if let Some(mtu) = configured {
            return Self {
                mtu,
                source: MtuSource::Configured,
            };
        }
        match underlay.into_iter().flatten().filter(|m| *m > 0).min() {
            Some(underlay) => Self {
                mtu: clamp(underlay.saturating_sub(WIREGUARD_OVERHEAD)),
                source: MtuSource::Underlay { underlay },
            },
            None => Self {
                mtu: DEFAULT_UNDERLAY - WIREGUARD_OVERHEAD,
                source: MtuSource::Default,
            },
        }
    }
}

fn clamp(mtu: u16) -> u16 {
    mtu.clamp(*BOUNDS.start(), *BOUNDS.end())
}

impl std::fmt::Display for TunnelMtu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source {
            MtuSource::Configured => write!(f, "{} (set by --mtu)", self.mtu),
            MtuSource::Underlay { underlay } => {
                write!(
                    f,
                    "{} (the underlay's {underlay} less {WIREGUARD_OVERHEAD})",
                    self.mtu
                )
            }
            MtuSource::Default => write!(
                f,
                "{} (default: no route towards the endpoints names an MTU)",
                self.mtu
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_smallest_underlay_less_80() {
        let m = TunnelMtu::choose(None, [Some(1500), Some(1400), None]);
        assert_eq!(m.mtu, 1320);
        assert_eq!(m.source, MtuSource::Underlay { underlay: 1400 });
        assert_eq!(TunnelMtu::choose(None, [Some(9001)]).mtu, 8921);
    }

    #[test]
    fn no_known_route_gives_1420() {
        let m = TunnelMtu::choose(None, [None, Some(0)]);
        assert_eq!((m.mtu, m.source), (1420, MtuSource::Default));
        assert_eq!(TunnelMtu::choose(None, []).mtu, 1420);
    }

    #[test]
    fn the_setting_wins_and_tiny_underlays_are_clamped() {
        let m = TunnelMtu::choose(Some(1280), [Some(1400)]);
        assert_eq!((m.mtu, m.source), (1280, MtuSource::Configured));
        assert_eq!(TunnelMtu::choose(None, [Some(600)]).mtu, 576);
        assert_eq!(TunnelMtu::choose(None, [Some(65535)]).mtu, 9000);
    }

    #[test]
    fn says_where_it_came_from() {
        assert_eq!(
            TunnelMtu::choose(None, [Some(1400)]).to_string(),
            "1320 (the underlay's 1400 less 80)"
        );
    }
}
