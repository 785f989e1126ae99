//! Fuzz target: any bytes as a datagram a local client sends the resolver, and as an answer an
//! upstream or the cluster DNS sends back (`kubewire_dns::fuzzing::packet`): the fast-path parser,
//! the cache key, the routing rule (with hostile namespaces `com` and `dev`), the composed answer,
//! the packet cache and the fit to the client's UDP size; the upstream answer's checks and the TTL
//! cap. Besides "never panics": internet names never go to the cluster, no TTL above the cap leaves
//! the resolver, and what goes back parses with the client's id and question.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kubewire_dns::fuzzing::packet(data);
});
