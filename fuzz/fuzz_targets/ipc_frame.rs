//! Fuzz target: any bytes as what a local client sends the daemon. The frame reader (`\n`-framed,
//! size- and time-bounded, with the large-frame permit) reads every frame of the stream, and each
//! line is decoded as a request and as a response (the version first, then the body). Besides
//! "never panics": a decoded message, written again, reads back the same.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use kubewire_ipc::framing::{self, BigFrames, FrameError};
use kubewire_ipc::{Envelope, Request, Response};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
});

fn round_trip<T>(body: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let line = serde_json::to_vec(&Envelope::new(body)).expect("a decoded message encodes");
    let again: T = framing::decode(&line).expect("an encoded message decodes");
    assert_eq!(&again, body, "a message changed on its way back");
}

fuzz_target!(|data: &[u8]| {
    for line in data.split(|b| *b == b'\n') {
        if let Ok(request) = framing::decode::<Request>(line) {
            round_trip(&request);
        }
        if let Ok(response) = framing::decode::<Response>(line) {
            round_trip(&response);
        }
    }
    RUNTIME.block_on(async {
        let big = BigFrames::new(1);
        let mut reader = tokio::io::BufReader::with_capacity(64, data);
        for _ in 0..1024 {
            let read = framing::read_limited::<_, Request>(
                &mut reader,
                Some(Duration::from_secs(1)),
                Duration::from_secs(1),
                Some(&big),
            );
            match read.await {
                Ok(None) => break,
                Ok(Some(request)) => round_trip(&request),
                // A frame error ends the connection, as the daemon does; bad JSON does too.
                Err(FrameError::Json(_) | FrameError::Version { .. }) => continue,
                Err(_) => break,
            }
        }
    });
});
