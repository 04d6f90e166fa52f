//! A load driver for `bulwark serve` over real TLS, used by `scripts/soak.sh` and for latency
//! measurements; not part of the server. Every answer is checked, not only its status: each
//! review of the mix must get the decision it got in the calibration round at the start, with
//! its own uid.
//!
//! ```text
//! cargo run --release --example load -- capacity --url https://127.0.0.1:18443 --ca ca.crt
//! cargo run --release --example load -- soak --url ... --ca ... --rate 400 --minutes 30 --pid PID
//! cargo run --release --example load -- heavy --url ... --ca ... --heavy 4 --seconds 20
//! ```
//!
//! The mix: every AdmissionReview in `--reviews` (the shared benchmark set) to `/validate`, the
//! typical Deployment to `/mutate`, a copy of the small Pod with a root container and an
//! unpinned image (denied), and a truncated body (malformed: 400).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use tokio::sync::Semaphore;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Closed loop: as many reviews as `--concurrency` requests in flight allow.
    Capacity {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Open loop at `--rate` reviews a second, a report each minute; fails on any failed
    /// review or on RSS growth past 10 % of what it was after the warm-up minutes.
    Soak {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        rate: u64,
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        /// Minutes before the RSS baseline is taken.
        #[arg(long, default_value_t = 2)]
        warmup_minutes: u64,
        /// The server's process id, for its RSS.
        #[arg(long)]
        pid: u32,
    },
    /// Keeps `--heavy` large reviews in flight while sending typical ones one after another,
    /// and reports the typical reviews' latency.
    Heavy {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 4)]
        heavy: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Size of the heavy ConfigMap's one value.
        #[arg(long, default_value_t = 1_000_000)]
        heavy_bytes: usize,
        /// What the value repeats.
        #[arg(long, default_value = "-----BEGIN ")]
        heavy_pattern: String,
        /// After a refused (non-200) heavy review, wait this long before the next; 0 sends
        /// the next at once (a flood of refused uploads).
        #[arg(long, default_value_t = 1000)]
        heavy_backoff_ms: u64,
    },
}

#[derive(Args, Clone)]
struct Target {
    #[arg(long)]
    url: String,
    /// The CA that signed the server's certificate.
    #[arg(long)]
    ca: PathBuf,
    #[arg(long, default_value = "../shared/reviews")]
    reviews: PathBuf,
}

/// One request of the mix and the answer it must get.
struct Case {
    name: String,
    path: &'static str,
    body: Vec<u8>,
    uid: Option<String>,
    expected: Expected,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    /// Status 200 and this outcome: `allowed`, `denied`, `patched`, set by calibration.
    Review(String),
    Status(u16),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Mode::Capacity {
            target,
            concurrency,
            seconds,
        } => {
            let (client, cases) = prepare(&target).await?;
            let rate = capacity(&client, &target.url, &cases, concurrency, seconds).await?;
            println!("capacity: {rate:.0} reviews/s");
        }
        Mode::Soak {
            target,
            rate,
            minutes,
            warmup_minutes,
            pid,
        } => {
            let (client, cases) = prepare(&target).await?;
            soak(
                &client,
                &target.url,
                cases,
                rate,
                minutes,
                warmup_minutes,
                pid,
            )
            .await?;
        }
        Mode::Heavy {
            target,
            heavy,
            seconds,
            heavy_bytes,
            heavy_pattern,
            heavy_backoff_ms,
        } => {
            let (client, cases) = prepare(&target).await?;
            let typical = cases
                .into_iter()
                .find(|c| c.name == "deployment-typical.json" && c.path == "/validate")
                .ok_or_else(|| anyhow::anyhow!("deployment-typical.json is not in the mix"))?;
            heavy_run(
                &client,
                &target,
                typical,
                heavy,
                seconds,
                &heavy_configmap(heavy_bytes, &heavy_pattern),
                Duration::from_millis(heavy_backoff_ms),
            )
            .await?;
        }
    }
    Ok(())
}

fn client(ca: &Path) -> anyhow::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca)?)?;
    Ok(reqwest::Client::builder()
        .tls_backend_rustls()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()?)
}

/// Builds the mix and calibrates what each case must answer.
async fn prepare(target: &Target) -> anyhow::Result<(reqwest::Client, Vec<Case>)> {
    let client = client(&target.ca)?;
    let mut cases = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&target.reviews)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in &files {
        let body = std::fs::read(file)?;
        let review: Value = serde_json::from_slice(&body)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let uid = review["request"]["uid"].as_str().map(String::from);
        if name == "deployment-typical.json" {
            cases.push(Case {
                name: name.clone(),
                path: "/mutate",
                body: body.clone(),
                uid: uid.clone(),
                expected: Expected::Status(0),
            });
        }
        if name == "pod-small.json" {
            let mut denied = review.clone();
            denied["request"]["uid"] = "00000000-0000-4000-8000-00000000dead".into();
            // Not owned by a controller (whose template is judged instead), so judged itself.
            if let Some(meta) = denied["request"]["object"]["metadata"].as_object_mut() {
                meta.remove("ownerReferences");
            }
            let container = &mut denied["request"]["object"]["spec"]["containers"][0];
            container["image"] = "nginx".into();
            container["securityContext"] = serde_json::json!({"privileged": true});
            cases.push(Case {
                name: "pod-small.json (root, unpinned)".into(),
                path: "/validate",
                body: serde_json::to_vec(&denied)?,
                uid: Some("00000000-0000-4000-8000-00000000dead".into()),
                expected: Expected::Status(0),
            });
            cases.push(Case {
                name: "pod-small.json (truncated)".into(),
                path: "/validate",
                body: body[..body.len() / 2].to_vec(),
                uid: None,
                expected: Expected::Status(400),
            });
        }
        cases.push(Case {
            name,
            path: "/validate",
            body,
            uid,
            expected: Expected::Status(0),
        });
    }
    anyhow::ensure!(
        !cases.is_empty(),
        "no reviews in {}",
        target.reviews.display()
    );
    for case in &mut cases {
        if case.expected == Expected::Status(0) {
            let (status, outcome) = send(&client, &target.url, case).await?;
            anyhow::ensure!(status == 200, "{}: calibration got {status}", case.name);
            case.expected = Expected::Review(outcome);
        }
        println!(
            "mix: {:<34} {:<9} {:?}",
            case.name, case.path, case.expected
        );
    }
    let denied = cases
        .iter()
        .any(|c| c.expected == Expected::Review("denied".into()));
    let patched = cases
        .iter()
        .any(|c| c.expected == Expected::Review("patched".into()));
    anyhow::ensure!(
        denied && patched,
        "the mix needs a denied and a patched review"
    );
    Ok((client, cases))
}

/// Sends one case; returns the status and, for a 200 review, its outcome.
async fn send(client: &reqwest::Client, url: &str, case: &Case) -> anyhow::Result<(u16, String)> {
    let response = client
        .post(format!("{url}{}", case.path))
        .header("content-type", "application/json")
        .body(case.body.clone())
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    if status != 200 {
        return Ok((status, String::new()));
    }
    let answer: Value = serde_json::from_str(&text)?;
    let response = &answer["response"];
    anyhow::ensure!(
        response["uid"].as_str() == case.uid.as_deref(),
        "{}: the answer carries another uid",
        case.name
    );
    let outcome = if response.get("patch").is_some() {
        "patched"
    } else if response["allowed"] == true {
        "allowed"
    } else {
        "denied"
    };
    Ok((status, outcome.to_string()))
}

/// Sends one case and checks the answer against the calibration.
async fn check(client: &reqwest::Client, url: &str, case: &Case) -> Result<(), String> {
    match send(client, url, case).await {
        Err(error) => Err(format!("{}: {error:#}", case.name)),
        Ok((status, outcome)) => {
            let got = match status {
                200 => Expected::Review(outcome),
                other => Expected::Status(other),
            };
            if got == case.expected {
                Ok(())
            } else {
                Err(format!(
                    "{}: expected {:?}, got {got:?}",
                    case.name, case.expected
                ))
            }
        }
    }
}

async fn capacity(
    client: &reqwest::Client,
    url: &str,
    cases: &[Case],
    concurrency: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    let cases = Arc::new(cases.iter().map(clone_case).collect::<Vec<_>>());
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, url, cases, done, failed) = (
            client.clone(),
            url.to_string(),
            cases.clone(),
            done.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < until {
                let case = &cases[i % cases.len()];
                match check(&client, &url, case).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let failed = failed.load(Ordering::Relaxed);
    anyhow::ensure!(
        failed == 0,
        "{failed} reviews failed while measuring capacity"
    );
    Ok(done.load(Ordering::Relaxed) as f64 / seconds as f64)
}

fn clone_case(case: &Case) -> Case {
    Case {
        name: case.name.clone(),
        path: case.path,
        body: case.body.clone(),
        uid: case.uid.clone(),
        expected: case.expected.clone(),
    }
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn soak(
    client: &reqwest::Client,
    url: &str,
    cases: Vec<Case>,
    rate: u64,
    minutes: u64,
    warmup_minutes: u64,
    pid: u32,
) -> anyhow::Result<()> {
    let cases = Arc::new(cases);
    // A stalled server must not pile up tasks without bound; past it, sends count as failed.
    let in_flight = Arc::new(Semaphore::new(1024));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut served_total: u64 = 0;
    let mut failed_total: u64 = 0;
    let mut baseline: Option<u64> = None;
    let mut peak_after_warmup: u64 = 0;
    println!(
        "{:>6} {:>9} {:>8} {:>9} {:>9} {:>10}",
        "minute", "served", "failed", "p50 ms", "p99 ms", "RSS KiB"
    );
    for minute in 1..=minutes {
        let until = started + Duration::from_secs(60 * minute);
        while Instant::now() < until {
            ticker.tick().await;
            let case_index = (sent as usize) % cases.len();
            sent += 1;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                failures
                    .lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .push("1024 reviews in flight: the server is not keeping up".into());
                continue;
            };
            let (client, url, cases, latencies, failures) = (
                client.clone(),
                url.to_string(),
                cases.clone(),
                latencies.clone(),
                failures.clone(),
            );
            tokio::spawn(async move {
                let at = Instant::now();
                let result = check(&client, &url, &cases[case_index]).await;
                let took = at.elapsed();
                match result {
                    Ok(()) => latencies.lock().map(|mut l| l.push(took)).unwrap_or(()),
                    Err(e) => failures.lock().map(|mut f| f.push(e)).unwrap_or(()),
                }
                drop(permit);
            });
        }
        let mut minute_latencies =
            std::mem::take(&mut *latencies.lock().map_err(|_| anyhow::anyhow!("lock"))?);
        let minute_failures =
            std::mem::take(&mut *failures.lock().map_err(|_| anyhow::anyhow!("lock"))?);
        minute_latencies.sort();
        let rss = rss_kib(pid)?;
        served_total += minute_latencies.len() as u64;
        failed_total += minute_failures.len() as u64;
        println!(
            "{minute:>6} {:>9} {:>8} {:>9.2} {:>9.2} {rss:>10}",
            minute_latencies.len(),
            minute_failures.len(),
            ms(percentile(&minute_latencies, 0.5)),
            ms(percentile(&minute_latencies, 0.99)),
        );
        for failure in minute_failures.iter().take(5) {
            println!("       failed: {failure}");
        }
        if minute == warmup_minutes {
            baseline = Some(rss);
        } else if minute > warmup_minutes {
            peak_after_warmup = peak_after_warmup.max(rss);
        }
    }
    // Let the last requests finish.
    let _ = tokio::time::timeout(Duration::from_secs(30), in_flight.acquire_many(1024)).await;
    let late_failures = failures.lock().map_err(|_| anyhow::anyhow!("lock"))?.len() as u64;
    served_total += latencies.lock().map_err(|_| anyhow::anyhow!("lock"))?.len() as u64;
    failed_total += late_failures;
    println!("reviews served: {served_total}, failed: {failed_total}");
    if let Some(baseline) = baseline {
        let growth = peak_after_warmup as f64 / baseline as f64 - 1.0;
        println!(
            "RSS after warm-up: {baseline} KiB; highest later: {peak_after_warmup} KiB ({:+.1} %)",
            growth * 100.0
        );
        anyhow::ensure!(growth <= 0.10, "RSS grew more than 10 % after the warm-up");
    }
    anyhow::ensure!(failed_total == 0, "{failed_total} reviews failed");
    Ok(())
}

/// A valid ConfigMap review whose one value is `pattern` repeated to `bytes`.
fn heavy_configmap(bytes: usize, pattern: &str) -> Vec<u8> {
    let value: String = pattern.repeat(bytes / pattern.len().max(1) + 1)[..bytes].to_string();
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-4000-8000-00000000beef",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "heavy", "namespace": "payments", "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "heavy", "namespace": "payments"},
                       "data": {"blob": value}},
            "oldObject": null, "dryRun": false
        }
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

async fn heavy_run(
    typical_client: &reqwest::Client,
    target: &Target,
    typical: Case,
    heavy: usize,
    seconds: u64,
    heavy_body: &[u8],
    backoff: Duration,
) -> anyhow::Result<()> {
    let url = target.url.as_str();
    let until = Instant::now() + Duration::from_secs(seconds);
    let heavy_statuses = Arc::new(std::sync::Mutex::new(Vec::<(u16, Duration)>::new()));
    let mut heavy_tasks = Vec::new();
    for _ in 0..heavy {
        // One client per heavy stream: a connection of its own, as another caller would use.
        let (client, url, body, statuses) = (
            client(&target.ca)?,
            url.to_string(),
            heavy_body.to_vec(),
            heavy_statuses.clone(),
        );
        heavy_tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let at = Instant::now();
                let status = match client
                    .post(format!("{url}/validate"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                statuses
                    .lock()
                    .map(|mut s| s.push((status, at.elapsed())))
                    .unwrap_or(());
                if status != 200 {
                    tokio::time::sleep(backoff).await;
                }
            }
        }));
    }
    // Let the heavy ones get going.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    let mut failed = 0;
    while Instant::now() < until {
        let at = Instant::now();
        match check(typical_client, url, &typical).await {
            Ok(()) => latencies.push(at.elapsed()),
            Err(_) => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for task in heavy_tasks {
        task.await?;
    }
    latencies.sort();
    println!(
        "typical review beside {heavy} heavy ({} bytes each): {} answered, {failed} failed; \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        heavy_body.len(),
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    let statuses = heavy_statuses.lock().map_err(|_| anyhow::anyhow!("lock"))?;
    let mut by_status = std::collections::BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for (status, took) in statuses.iter() {
        *by_status.entry(*status).or_insert(0) += 1;
        slowest = slowest.max(*took);
    }
    println!(
        "heavy reviews by status: {by_status:?}; the slowest answer took {:.0} ms",
        ms(slowest)
    );
    Ok(())
}
