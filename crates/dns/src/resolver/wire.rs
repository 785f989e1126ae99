//! The few bytes of a DNS message the fast path reads and writes itself (RFC 1035 4.1): a plain query's
//! question and EDNS size, and a response's TTL fields. Everything else goes through hickory-proto.

/// Header length.
pub const HEADER: usize = 12;
/// The UDP payload size without EDNS.
pub const PLAIN_UDP: usize = 512;
/// OPT record type.
const OPT: u16 = 41;

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// A standard query with one question, as the fast path sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Where the question ends (it starts at [`HEADER`]).
    pub question_end: usize,
    /// The client's UDP payload size (512 without EDNS).
    pub max_udp: usize,
    /// The query has an OPT record (the answer must have one too).
    pub edns: bool,
}

impl Query {
    /// Reads a standard query (QR=0, opcode 0, one question, no answer/authority records, at most an
    /// OPT record as additional). `None` for anything else (the slow path answers those).
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let flags = u16_at(buf, 2)?;
        let (qd, an, ns, ar) = (
            u16_at(buf, 4)?,
            u16_at(buf, 6)?,
            u16_at(buf, 8)?,
            u16_at(buf, 10)?,
        );
        // QR=0, opcode 0 (QUERY).
        if flags & 0xf800 != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
            return None;
        }
        let name_end = skip_name(buf, HEADER, false)?;
        let question_end = name_end + 4;
        if question_end > buf.len() {
            return None;
        }
        let (mut edns, mut max_udp) = (false, PLAIN_UDP);
        if ar == 1 {
            // Only an OPT for the root is understood here.
            if buf.get(question_end) != Some(&0) || u16_at(buf, question_end + 1)? != OPT {
                return None;
            }
            edns = true;
            max_udp = usize::from(u16_at(buf, question_end + 3)?).max(PLAIN_UDP);
        }
        Some(Self {
            question_end,
            max_udp,
            edns,
        })
    }

    /// The cache key: the question with the name lowercased (not its type and class), and whether the
    /// answer carries an OPT.
    pub fn key(&self, buf: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.question_end - HEADER + 1);
        // The name case-folded (DNS names are case-insensitive), type and class as they are.
        let name_end = self.question_end - 4;
        key.extend(buf[HEADER..name_end].iter().map(u8::to_ascii_lowercase));
        key.extend_from_slice(&buf[name_end..self.question_end]);
        key.push(u8::from(self.edns));
        key
    }
}

/// The end of the name starting at `at`; compression pointers only if `pointers`.
fn skip_name(buf: &[u8], mut at: usize, pointers: bool) -> Option<usize> {
    loop {
        let len = *buf.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 && pointers => return (at + 2 <= buf.len()).then_some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// The offsets and values of the TTL fields of every record of a response (the OPT record's "TTL"
/// is flags, not a TTL: left out). `None` if the message does not parse.
pub fn ttl_fields(buf: &[u8]) -> Option<Vec<(usize, u32)>> {
    let qd = u16_at(buf, 4)?;
    let records = u32::from(u16_at(buf, 6)?) + u32::from(u16_at(buf, 8)?) + u32::from(u16_at(buf, 10)?);
    let mut at = HEADER;
    for _ in 0..qd {
        at = skip_name(buf, at, true)? + 4;
    }
    let mut fields = Vec::new();
    for _ in 0..records {
        at = skip_name(buf, at, true)?;
        let rtype = u16_at(buf, at)?;
        let ttl_at = at + 4;
        let ttl = buf.get(ttl_at..ttl_at + 4)?;
        let ttl = u32::from_be_bytes([ttl[0], ttl[1], ttl[2], ttl[3]]);
        let rdlen = usize::from(u16_at(buf, at + 8)?);
        at += 10 + rdlen;
        if at > buf.len() {
            return None;
        }
        if rtype != OPT {
            fields.push((ttl_at, ttl));
        }
    }
    (at == buf.len()).then_some(fields)
}

/// Makes a stored response the answer to `query`: its id, RD and CD flags and its question bytes
/// (same length: the stored one is the same name in another case).
pub fn answer_to(stored: &mut [u8], query: &[u8], q: &Query) {
    stored[0] = query[0];
    stored[1] = query[1];
    // RD (bit 0 of byte 2) and CD (bit 4 of byte 3) as asked.
    stored[2] = (stored[2] & !0x01) | (query[2] & 0x01);
    stored[3] = (stored[3] & !0x10) | (query[3] & 0x10);
    stored[HEADER..q.question_end].copy_from_slice(&query[HEADER..q.question_end]);
}

/// The answer that does not fit: header with TC set, the question, an OPT if the query had one.
pub fn truncated(response: &[u8], q: &Query, payload: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.question_end + 11);
    out.extend_from_slice(&response[..q.question_end]);
    out[2] |= 0x02;
    out[6..10].fill(0);
    out[10..12].copy_from_slice(&u16::from(q.edns).to_be_bytes());
    if q.edns {
        out.push(0);
        out.extend_from_slice(&OPT.to_be_bytes());
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    out
}

/// `reply` as it may go over UDP to the asker of `q`: truncated (TC) if it does not fit.
pub fn fit(reply: Vec<u8>, q: &Query, payload: u16) -> Vec<u8> {
    if reply.len() <= q.max_udp {
        reply
    } else {
        truncated(&reply, q, payload)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query as HQuery};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn query(name: &str, edns: Option<u16>) -> Vec<u8> {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(HQuery::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn a_plain_query_and_its_key() {
        let buf = query("Web.Default.svc.cluster.local.", None);
        let q = Query::parse(&buf).unwrap();
        assert!(!q.edns);
        assert_eq!(q.max_udp, 512);
        assert_eq!(q.question_end, buf.len());
        let other = query("web.default.SVC.cluster.local.", None);
        assert_eq!(q.key(&buf), Query::parse(&other).unwrap().key(&other));
    }

    #[test]
    fn only_the_name_is_case_folded_in_the_key() {
        // Type 65 (HTTPS, 0x0041) and type 97 (0x0061) differ only where an ASCII letter's case
        // would: a cached HTTPS answer must not answer a type-97 question.
        let mut m = Message::new(1, MessageType::Query, OpCode::Query);
        m.add_query(HQuery::query(
            Name::from_ascii("web.default.").unwrap(),
            RecordType::HTTPS,
        ));
        let https = m.to_vec().unwrap();
        let mut other = https.clone();
        let at = other.len() - 3;
        assert_eq!(other[at], 0x41);
        other[at] = 0x61;
        let (a, b) = (Query::parse(&https).unwrap(), Query::parse(&other).unwrap());
        assert_ne!(a.key(&https), b.key(&other));
    }

    #[test]
    fn edns_is_seen_and_keyed_apart() {
        let plain = query("web.default.svc.cluster.local.", None);
        let buf = query("web.default.svc.cluster.local.", Some(4096));
        let q = Query::parse(&buf).unwrap();
        assert!(q.edns);
        assert_eq!(q.max_udp, 4096);
        assert_ne!(q.key(&buf), Query::parse(&plain).unwrap().key(&plain));
    }

    #[test]
    fn responses_and_odd_messages_are_not_plain_queries() {
        let mut buf = query("a.b.", None);
        buf[2] |= 0x80;
        assert_eq!(Query::parse(&buf), None);
        assert_eq!(Query::parse(&[0; 11]), None);
        let mut two = query("a.b.", None);
        two[5] = 2;
        assert_eq!(Query::parse(&two), None);
        let short = query("a.b.", None);
        assert_eq!(Query::parse(&short[..short.len() - 1]), None);
    }

    #[test]
    fn ttl_fields_of_a_response_skip_the_opt_record() {
        let mut m = Message::response(7, OpCode::Query);
        let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
        m.add_query(HQuery::query(name.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(
            name.clone(),
            30,
            RData::A(A::new(10, 43, 0, 80)),
        ));
        let soa = SOA::new(name.clone(), name.clone(), 1, 2, 3, 4, 5);
        m.add_authority(Record::from_rdata(name, 17, RData::SOA(soa)));
        m.set_edns(Edns::new());
        let buf = m.to_vec().unwrap();
        let fields = ttl_fields(&buf).unwrap();
        assert_eq!(fields.iter().map(|f| f.1).collect::<Vec<_>>(), vec![30, 17]);
        for (at, ttl) in fields {
            assert_eq!(u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()), ttl);
        }
        assert_eq!(ttl_fields(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn a_stored_answer_takes_the_querys_id_flags_and_case() {
        let stored_q = query("web.default.svc.cluster.local.", None);
        let mut stored = stored_q.clone();
        stored[0] = 0;
        stored[1] = 0;
        stored[2] = 0x80;
        let mut asked = query("WEB.default.svc.cluster.local.", None);
        asked[0] = 0xab;
        asked[3] |= 0x10;
        let q = Query::parse(&asked).unwrap();
        answer_to(&mut stored, &asked, &q);
        assert_eq!(&stored[..2], &[0xab, 0x34]);
        assert_eq!(stored[2], 0x81);
        assert_eq!(stored[3] & 0x10, 0x10);
        assert_eq!(&stored[12..], &asked[12..]);
    }

    #[test]
    fn truncated_keeps_the_question_and_sets_tc() {
        let asked = query("web.default.svc.cluster.local.", Some(1232));
        let q = Query::parse(&asked).unwrap();
        let t = truncated(&asked, &q, 1232);
        let m = Message::from_vec(&t).unwrap();
        assert!(m.metadata.truncation);
        assert_eq!(m.queries.len(), 1);
        assert!(m.answers.is_empty());
        assert_eq!(m.edns.unwrap().max_payload(), 1232);
    }
}
