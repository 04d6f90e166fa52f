//! Decode + evaluate + encode of the shared AdmissionReviews, as the webhook handler does it.

use std::path::PathBuf;

use bulwark::engine::Policy;
use bulwark::server::review::{Endpoint, answer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

// The same allocator as the binary, so the numbers are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn reviews_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reviews")
}

fn bench_reviews(c: &mut Criterion) {
    let policy = Policy::builtin();
    let mut group = c.benchmark_group("validate");
    for name in [
        "deployment-typical",
        "deployment-update",
        "deployment-large",
        "pod-small",
        "secret",
        "ingress",
    ] {
        let Ok(body) = std::fs::read(reviews_dir().join(format!("{name}.json"))) else {
            eprintln!("../shared/reviews/{name}.json is absent; skipped");
            continue;
        };
        assert!(
            answer(&policy, &body, Endpoint::Validate, 1_700_000_000).is_ok(),
            "{name} answers"
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                answer(
                    &policy,
                    std::hint::black_box(&body),
                    Endpoint::Validate,
                    1_700_000_000,
                )
            })
        });
    }
    group.finish();
}

/// The mutating webhook on the typical Deployment (already carrying most defaults) and on the
/// same Deployment stripped of them, so every mutation has work to do.
fn bench_mutate(c: &mut Criterion) {
    let policy = Policy::builtin();
    let Ok(body) = std::fs::read(reviews_dir().join("deployment-typical.json")) else {
        eprintln!("../shared/reviews/deployment-typical.json is absent; skipped");
        return;
    };
    let mut review: serde_json::Value = serde_json::from_slice(&body).expect("a review");
    let mut group = c.benchmark_group("mutate");
    group.bench_function("deployment-typical", |b| {
        b.iter(|| {
            answer(
                &policy,
                std::hint::black_box(&body),
                Endpoint::Mutate,
                1_700_000_000,
            )
        })
    });
    let spec = &mut review["request"]["object"]["spec"]["template"]["spec"];
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("securityContext");
    }
    for container in spec["containers"].as_array_mut().into_iter().flatten() {
        if let Some(c) = container.as_object_mut() {
            for field in ["resources", "lifecycle", "securityContext"] {
                c.remove(field);
            }
            c.insert("imagePullPolicy".into(), "IfNotPresent".into());
            c.insert("image".into(), "registry.example.com/app:latest".into());
        }
    }
    let stripped = serde_json::to_vec(&review).expect("json");
    let outcome = answer(&policy, &stripped, Endpoint::Mutate, 1_700_000_000).expect("answers");
    assert_eq!(outcome.summary.decision, "mutated");
    group.bench_function("deployment-needing-every-default", |b| {
        b.iter(|| {
            answer(
                &policy,
                std::hint::black_box(&stripped),
                Endpoint::Mutate,
                1_700_000_000,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_reviews, bench_mutate);
criterion_main!(benches);
