//! Any bytes in a TLS Secret's tls.crt and tls.key, and any text the secret detectors read:
//! never a panic.
#![no_main]

use bulwark::engine::{keypair, secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keypair::parse_chain(data);
    let _ = keypair::parse_private_key(data);
    let text = String::from_utf8_lossy(data);
    let _ = secrets::value_looks_secret(&text);
});
