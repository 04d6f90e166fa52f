//! Any text given to `check` or `mutate`: multi-document YAML, JSON, `kind: List`. Never a
//! panic; every document becomes an item.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for file in ["fuzz.yaml", "fuzz.json"] {
        let _ = bulwark::manifests::parse_text(file, text);
    }
});
