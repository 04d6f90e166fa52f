//! Flags and files that must not be able to hurt the server: harmful flag values are refused
//! with a clear message before anything starts; a policy path that turns into a FIFO, vanishes,
//! becomes a directory or grows past the size cap is logged and counted while the server keeps
//! answering with the last good policy; an open-file limit lowers the connection cap.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::spawned::{Options, Spawned, replace_file};
use crate::common::*;

const POLICY: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: enforce\n";
const AUDIT_POLICY: &str = "apiVersion: bulwark.dev/v1\nkind: Policy\nmode: audit\n";

/// Runs `bulwark serve ARGS`; it must exit on its own within 10 s. Returns the code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulwark"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg(format!("--cert-dir={}", dir.path().display()))
        .args(args)
        .env_remove("BULWARK_POLICY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bulwark runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bulwark serve {args:?} kept running instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn harmful_flag_values_are_refused_with_a_clear_message() {
    for (args, expected) in [
        (&["--reload-interval", "0s"][..], "at least 1s"),
        (&["--reload-interval", "1ns"][..], "at least 1s"),
        (&["--body-limit", "0"][..], "at least 1024 bytes"),
        (&["--request-timeout", "0s"][..], "at least 1ms"),
        (
            &["--body-limit", "64MiB"][..],
            "larger than --max-body-bytes-in-flight",
        ),
    ] {
        let (code, stderr) = refused(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn a_policy_file_that_is_no_regular_small_file_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.yaml");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RWXU).expect("mkfifo");
    let huge = dir.path().join("huge.yaml");
    let mut text = String::from(POLICY);
    text.push_str(&"# padding\n".repeat(200_000));
    std::fs::write(&huge, text).expect("write");
    for (path, expected) in [
        (&fifo, "not a regular file"),
        (&huge, "more than the 1048576 bytes"),
        (&dir.path().to_path_buf(), "is a directory"),
    ] {
        let policy = format!("--policy={}", path.display());
        let (code, stderr) = refused(&[&policy]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}

async fn answers_promptly(server: &Spawned) -> serde_json::Value {
    let started = Instant::now();
    let response = server
        .client()
        .post(format!("{}/validate", server.base()))
        .json(&review(
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "bare", "namespace": "shop"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}
            }),
            "CREATE",
            Some("shop"),
        ))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "slow answer");
    response.json::<serde_json::Value>().await.expect("json")["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_path_that_turns_into_a_fifo_a_directory_or_a_huge_file_keeps_the_last_good_policy()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("write");
    let server = Spawned::start_with(Options {
        args: vec![
            format!("--policy={}", policy.display()),
            "--reload-interval=1s".into(),
        ],
        dir: Some(dir),
        ..Options::default()
    });
    assert_eq!(
        answers_promptly(&server).await["allowed"],
        false,
        "enforced"
    );
    let failures = r#"bulwark_policy_reloads_total{result="failure"}"#;

    let mut huge = String::from(AUDIT_POLICY);
    huge.push_str(&"# padding\n".repeat(200_000));
    let steps = [
        "not a regular file",
        "does not exist",
        "is a directory",
        "more than the 1048576 bytes",
    ];
    for (count, expected) in steps.into_iter().enumerate() {
        match count {
            0 => {
                std::fs::remove_file(&policy).expect("rm");
                rustix::fs::mkfifoat(rustix::fs::CWD, &policy, rustix::fs::Mode::RWXU)
                    .expect("mkfifo");
            }
            1 => std::fs::remove_file(&policy).expect("rm"),
            2 => std::fs::create_dir(&policy).expect("mkdir"),
            _ => {
                std::fs::remove_dir(&policy).expect("rmdir");
                std::fs::write(&policy, &huge).expect("write");
            }
        }
        let line = server.wait_for_log(expected, Duration::from_secs(10)).await;
        assert_eq!(
            line["message"], "cannot read the policy file; the last good policy stays in force",
            "{line}"
        );
        assert_eq!(
            server.metric(failures).await,
            (count + 1) as f64,
            "{expected}"
        );
        // The last good policy answers, at once.
        assert_eq!(
            answers_promptly(&server).await["allowed"],
            false,
            "{expected}"
        );
    }
    replace_file(&policy, AUDIT_POLICY.as_bytes());
    server
        .wait_for_log("policy reloaded", Duration::from_secs(10))
        .await;
    assert_eq!(
        answers_promptly(&server).await["allowed"],
        true,
        "audit mode"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_stays_below_the_open_file_limit_and_the_admin_port_answers() {
    let server = Spawned::start_with(Options {
        open_files: Some(200),
        ..Options::default()
    });
    let lowered = server
        .wait_for_log("--max-connections is lowered", Duration::from_secs(5))
        .await;
    assert_eq!(lowered["fd_limit"], 200, "{lowered}");
    let cap = lowered["max_connections"].as_u64().expect("the cap");
    assert!(cap < 200, "{lowered}");
    let limits = server
        .wait_for_log("connection limits", Duration::from_secs(5))
        .await;
    assert_eq!(limits["fd_limit"], 200, "{limits}");

    // More silent connections than the cap: the extra ones are closed at once.
    let mut open = Vec::new();
    for _ in 0..cap + 10 {
        open.push(
            tokio::net::TcpStream::connect(&server.webhook)
                .await
                .expect("connect"),
        );
    }
    let refused = r#"bulwark_connections_refused_total{port="webhook",reason="max_connections"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metric(refused).await < 10.0 {
        assert!(
            Instant::now() < deadline,
            "the extra connections were not refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
        .wait_for_log("refused a connection", Duration::from_secs(5))
        .await;
    // The admin port still answers at once.
    let started = Instant::now();
    let health = reqwest::get(format!("http://{}/healthz", server.admin))
        .await
        .expect("admin answers");
    assert_eq!(health.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(open);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = server
            .client()
            .post(format!("{}/validate", server.base()))
            .json(&review(&compliant_deployment(), "CREATE", Some("shop")))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().as_u16() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the webhook port did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
