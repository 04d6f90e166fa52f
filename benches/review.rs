//! Decode + evaluate + encode of the shared AdmissionReviews, as the webhook handler does it.

use std::path::PathBuf;

use bulwark::engine::Policy;
use bulwark::server::review::{Endpoint, answer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

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

criterion_group!(benches, bench_reviews);
criterion_main!(benches);
