//! One admission scenario, run for counting instructions under callgrind
//! (`scripts/instructions.sh` runs it and compares the counts with `benches/instructions.baseline`).
//!
//! The scenario runs once to warm up (lazy statics, the allocator's first pages), then
//! [`counted`] runs it [`ROUNDS`] times: callgrind collects only inside `counted`
//! (`--toggle-collect`), so the count is bulwark's work per review and nothing of start-up.
//!
//!     instructions <validate-typical|mutate-typical|validate-large|check-1000>

use std::path::{Path, PathBuf};

use bulwark::engine::Policy;
use bulwark::offline::check;
use bulwark::server::review::{Endpoint, answer};

// The allocator of the binary, so the counts are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How many times `counted` runs a scenario; the script divides by it.
const ROUNDS: usize = 10;

/// The clock reading every scenario judges at, so that no count depends on the date.
const NOW: i64 = 1_700_000_000;

/// The documents `check-1000` checks.
const CHECK_DOCUMENTS: usize = 1000;

enum Scenario {
    Review(Vec<u8>, Endpoint),
    Check(String),
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// 1,000 YAML documents from the shared corpus, in a stable order, repeated as needed.
fn corpus_documents() -> String {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(shared().join("corpus"))
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let documents: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = String::from_utf8_lossy(&read(f)).into_owned();
            text.split("\n---")
                .map(str::trim)
                .filter(|d| d.contains("kind:"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!documents.is_empty(), "no manifests under ../shared/corpus");
    documents
        .iter()
        .cycle()
        .take(CHECK_DOCUMENTS)
        .map(|d| format!("---\n{d}\n"))
        .collect()
}

fn scenario(name: &str) -> Scenario {
    let review = |file: &str| read(&shared().join("reviews").join(file));
    match name {
        "validate-typical" => {
            Scenario::Review(review("deployment-typical.json"), Endpoint::Validate)
        }
        "mutate-typical" => Scenario::Review(review("deployment-typical.json"), Endpoint::Mutate),
        "validate-large" => Scenario::Review(review("deployment-large.json"), Endpoint::Validate),
        "check-1000" => Scenario::Check(corpus_documents()),
        other => panic!("unknown scenario {other}"),
    }
}

fn run(policy: &Policy, scenario: &Scenario) -> usize {
    match scenario {
        Scenario::Review(body, endpoint) => match answer(policy, body, *endpoint, NOW) {
            Ok(outcome) => outcome.body.len(),
            Err(e) => panic!("the review does not answer: {e}"),
        },
        Scenario::Check(text) => {
            let items = bulwark::manifests::parse_text("corpus.yaml", text);
            check::run(policy, items, NOW).to_json().len()
        }
    }
}

/// The only function callgrind counts.
#[inline(never)]
fn counted(policy: &Policy, scenario: &Scenario) -> usize {
    (0..ROUNDS)
        .map(|_| run(policy, std::hint::black_box(scenario)))
        .sum()
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!(
            "usage: instructions <validate-typical|mutate-typical|validate-large|check-1000>"
        );
        std::process::exit(2)
    });
    let policy = Policy::builtin();
    let scenario = scenario(&name);
    let warm = run(&policy, &scenario);
    let total = counted(&policy, &scenario);
    assert_eq!(total, warm * ROUNDS, "every round gives the same answer");
    println!("{name}: {ROUNDS} rounds, {warm} bytes of answer each");
}
