//! "First come, first served" among ranges: which ranges overlap an earlier kept one. Used so that no
//! address is routed to two peers. O(n log n) in the usual case where almost nothing overlaps.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::cidr::overlaps;

fn span(net: &IpNet) -> (bool, u128, u128) {
    match (net.network(), net.broadcast()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (false, u128::from(u32::from(a)), u128::from(u32::from(b))),
        (a, b) => (true, ip_u128(a), ip_u128(b)),
    }
}

fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A set of ranges that answers "does this range overlap any of them" in O(log n).
pub(crate) struct SpanIndex {
    /// (family, start) sorted, with the largest end among this and all earlier ones of the family.
    spans: Vec<((bool, u128), u128)>,
}

impl SpanIndex {
    pub(crate) fn new<'a>(nets: impl Iterator<Item = &'a IpNet>) -> Self {
        let mut spans: Vec<((bool, u128), u128)> = nets
            .map(|n| {
                let (v6, start, end) = span(n);
                ((v6, start), end)
            })
            .collect();
        spans.sort_unstable();
        let mut reach: Option<(bool, u128)> = None;
        for ((v6, _), end) in &mut spans {
            if let Some((family, max_end)) = reach
                && family == *v6
            {
                *end = (*end).max(max_end);
            }
            reach = Some((*v6, *end));
        }
        Self { spans }
    }

    /// Whether `net` overlaps one of the ranges.
    pub(crate) fn overlaps_any(&self, net: &IpNet) -> bool {
        let (v6, start, end) = span(net);
        // The last range starting at or before `net`'s end: some range up to it reaches `net`'s start.
        let at = self.spans.partition_point(|&(k, _)| k <= (v6, end));
        at.checked_sub(1)
            .and_then(|i| self.spans.get(i))
            .is_some_and(|&((family, _), max_end)| family == v6 && max_end >= start)
    }
}

/// For `ranges` in priority order, each tagged with its owner (a peer), the index of the earlier *kept*
/// range of another owner that it overlaps (`None`: kept). Ranges of one owner may overlap each other;
/// a range that overlaps only dropped ranges is kept.
#[must_use]
pub fn earlier_claims(ranges: &[IpNet], owners: &[usize]) -> Vec<Option<usize>> {
    let mut claims = vec![None; ranges.len()];
    // Sorted by (family, start, widest first): IPv4 ranges packed in one integer (start, then the
    // complement of the end, then the index), the rest as tuples; IPv4 first.
    let mut v4: Vec<u128> = Vec::with_capacity(ranges.len());
    let mut other: Vec<(bool, u128, std::cmp::Reverse<u128>, usize)> = Vec::new();
    let packable = u32::try_from(ranges.len()).is_ok();
    for (i, r) in ranges.iter().enumerate() {
        match span(r) {
            (false, start, end) if packable => {
                v4.push(start << 64 | (u128::from(u32::MAX) - end) << 32 | i as u128);
            }
            (v6, start, end) => other.push((v6, start, std::cmp::Reverse(end), i)),
        }
    }
    v4.sort_unstable();
    other.sort_unstable();
    let mask = u128::from(u32::MAX);
    let sorted = v4
        .iter()
        .map(|k| {
            (
                false,
                k >> 64,
                std::cmp::Reverse(mask - (k >> 32 & mask)),
                (k & mask) as usize,
            )
        })
        .chain(other.iter().copied());
    // A range overlaps something iff the next one (sorted by start) starts inside it, or some earlier
    // one ends at or after its start.
    let mut suspect = vec![false; ranges.len()];
    let mut reach: Option<(bool, u128)> = None;
    let mut sorted = sorted.peekable();
    while let Some((v6, start, std::cmp::Reverse(end), i)) = sorted.next() {
        if let Some((family, max_end)) = reach
            && family == v6
            && max_end >= start
        {
            suspect[i] = true;
        }
        if let Some(&(nv6, nstart, _, _)) = sorted.peek()
            && nv6 == v6
            && nstart <= end
        {
            suspect[i] = true;
        }
        reach = match reach {
            Some((family, max_end)) if family == v6 => Some((v6, max_end.max(end))),
            _ => Some((v6, end)),
        };
    }
    let mut kept: Vec<usize> = Vec::new();
    for i in (0..ranges.len()).filter(|&i| suspect[i]) {
        match kept
            .iter()
            .find(|&&k| owners.get(k) != owners.get(i) && overlaps(&ranges[k], &ranges[i]))
        {
            Some(&k) => claims[i] = Some(k),
            None => kept.push(i),
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn later_overlaps_lose() {
        let r = nets(&[
            "10.1.0.0/16",
            "10.2.0.0/16",
            "10.1.2.0/24",
            "10.0.0.0/8",
            "10.2.0.0/16",
            "fd00::/64",
        ]);
        let owners: Vec<usize> = (0..r.len()).collect();
        assert_eq!(
            earlier_claims(&r, &owners),
            vec![None, None, Some(0), Some(0), Some(1), None]
        );
    }

    #[test]
    fn span_index_agrees_with_pairwise_overlaps() {
        let set = nets(&[
            "10.0.0.0/24",
            "10.0.2.0/23",
            "192.168.0.1/32",
            "fd00::/64",
            "10.8.0.0/16",
        ]);
        let index = SpanIndex::new(set.iter());
        for probe in nets(&[
            "10.0.0.0/8",
            "10.0.1.0/24",
            "10.0.3.7/32",
            "10.0.0.255/32",
            "10.9.0.0/16",
            "192.168.0.0/24",
            "192.168.0.2/32",
            "fd00::1/128",
            "fd01::/64",
            "::/0",
            "0.0.0.0/0",
            "11.0.0.0/8",
        ]) {
            let expected = set.iter().any(|n| overlaps(n, &probe));
            assert_eq!(index.overlaps_any(&probe), expected, "{probe}");
        }
        assert!(!SpanIndex::new([].iter()).overlaps_any(&set[0]));
    }

    #[test]
    fn one_owner_may_overlap_itself() {
        let r = nets(&["192.168.10.11/32", "192.168.10.0/24", "192.168.10.0/25"]);
        assert_eq!(earlier_claims(&r, &[0, 0, 1]), vec![None, None, Some(0)]);
    }

    #[test]
    fn overlapping_only_a_dropped_range_is_kept() {
        // 10.0.0.0/8 is dropped (overlaps 10.1.0.0/16) so 10.9.0.0/16 keeps its place.
        let r = nets(&["10.1.0.0/16", "10.0.0.0/8", "10.9.0.0/16"]);
        assert_eq!(earlier_claims(&r, &[0, 1, 2]), vec![None, Some(0), None]);
    }

    #[test]
    fn matches_the_quadratic_definition() {
        let r = nets(&[
            "10.0.0.0/24",
            "10.0.0.128/25",
            "10.0.1.0/24",
            "10.0.0.0/23",
            "192.168.0.1/32",
            "192.168.0.0/24",
            "10.0.1.5/32",
            "0.0.0.0/0",
            "::/0",
            "fd00::1/128",
        ]);
        let owners = [0, 1, 1, 2, 3, 3, 4, 5, 6, 7];
        let mut kept: Vec<usize> = Vec::new();
        let mut expected = vec![None; r.len()];
        for i in 0..r.len() {
            match kept
                .iter()
                .find(|&&k| owners[k] != owners[i] && overlaps(&r[k], &r[i]))
            {
                Some(&k) => expected[i] = Some(k),
                None => kept.push(i),
            }
        }
        assert_eq!(earlier_claims(&r, &owners), expected);
    }
}
