//! Any policy file: never a panic, either a policy or an error that names the file.
#![no_main]

use bulwark::engine::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = Policy::layered("fuzz-policy.yaml", text) {
        assert!(e.to_string().contains("fuzz-policy.yaml"), "{e}");
    }
});
