//! Fuzz target: any bytes as a snapshot file, then planning and rendering. Besides "never panics", it
//! checks the Plan's invariants: no address in two peers, routes equal the AllowedIPs, nothing refused
//! is routed.
#![no_main]

use kubewire_core::cidr::overlaps;
use kubewire_core::policy::refusal_reason;
use kubewire_core::render::{dot, json, wg_quick};
use kubewire_core::{PlanRequest, PublicKey, Snapshot, plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::parse(text) else {
        return;
    };
    let mut request = PlanRequest::new(PublicKey::from_bytes([7; 32]));
    request.settings.service_cidrs = vec!["10.43.0.0/16".parse().expect("valid CIDR")];
    request.local_networks = vec!["192.168.1.0/24".parse().expect("valid CIDR")];
    for now in [0, 1_800_000_010] {
        let Ok(p) = plan(&snapshot, &request, now) else {
            continue;
        };
        let union: Vec<_> = p
            .peers
            .iter()
            .flat_map(|e| e.allowed_ips.iter().copied())
            .collect();
        assert_eq!(p.routes, union);
        for (i, a) in p.peers.iter().enumerate() {
            for b in p.peers.iter().skip(i + 1) {
                for x in &a.allowed_ips {
                    assert!(!b.allowed_ips.iter().any(|y| overlaps(x, y)), "{x} in two peers");
                }
            }
        }
        for r in &p.routes {
            assert_eq!(refusal_reason(r, &request.local_networks), None);
        }
        let _ = wg_quick::render(&p, None);
        let _ = dot::render(&p);
        let text = json::render(&p).expect("a Plan always serializes");
        assert_eq!(json::parse(&text).expect("and reads back"), p);
    }
});
