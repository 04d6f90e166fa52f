//! The real `bulwark serve` binary in a child process, for tests that need a process of its
//! own: signals, exit codes, its resident memory, its file-descriptor limit, its log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `bulwark serve`; killed when dropped, so a failing test leaves nothing behind.
pub struct Spawned {
    pub child: Child,
    /// `127.0.0.1:PORT` of the webhook port and of the admin port.
    pub webhook: String,
    pub admin: String,
    /// The CA that signed the serving certificate.
    pub ca_pem: Vec<u8>,
    /// Every log line so far, parsed (the log is JSON when stderr is not a terminal).
    pub log: Arc<Mutex<Vec<Value>>>,
    pub dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How to start it.
#[derive(Default)]
pub struct Options {
    /// Extra `serve` arguments.
    pub args: Vec<String>,
    /// Serve these certificate files (and trust this CA) instead of a development certificate.
    pub tls: Option<(PathBuf, PathBuf, Vec<u8>)>,
    /// Start it under `ulimit -n` of this many files.
    pub open_files: Option<u64>,
    /// The directory to keep; a fresh one when `None`.
    pub dir: Option<tempfile::TempDir>,
}

impl Spawned {
    /// Starts `bulwark serve` with `args` on ephemeral ports and a development certificate.
    pub fn start(args: &[&str]) -> Spawned {
        Spawned::start_with(Options {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> Spawned {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = options
            .dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        match &options.tls {
            Some((cert, key, _)) => {
                args.push(format!("--tls-cert={}", cert.display()));
                args.push(format!("--tls-key={}", key.display()));
            }
            None => args.push(format!("--cert-dir={}", dir.path().display())),
        }
        args.extend(options.args);
        let binary = env!("CARGO_BIN_EXE_bulwark");
        let mut command = match options.open_files {
            // `ulimit -n` sets the soft and the hard limit, so bulwark cannot raise it.
            Some(files) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
                    .arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(&args)
            .env_remove("BULWARK_POLICY")
            .env_remove("BULWARK_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bulwark starts");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serving_tx, serving_rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        // Keep reading the log so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let entry: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"message": line}));
                if entry["message"] == "serving" {
                    let _ = serving_tx.send(entry.clone());
                }
                lines.lock().expect("log lock").push(entry);
            }
        });
        let Ok(serving) = serving_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let log = log.lock().expect("log lock");
            panic!("bulwark did not start serving; its log: {log:#?}");
        };
        let ca_pem = match options.tls {
            Some((_, _, ca)) => ca,
            None => std::fs::read(dir.path().join("ca.crt")).expect("dev CA written"),
        };
        Spawned {
            child,
            webhook: serving["webhook"]
                .as_str()
                .expect("webhook addr")
                .to_string(),
            admin: serving["admin"].as_str().expect("admin addr").to_string(),
            ca_pem,
            log,
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `https://localhost:PORT`, for [`Spawned::client`].
    pub fn base(&self) -> String {
        let port = self.webhook.rsplit(':').next().expect("port");
        format!("https://localhost:{port}")
    }

    /// An HTTPS client that trusts only the server's CA.
    pub fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&self.ca_pem).expect("ca");
        reqwest::Client::builder()
            .tls_backend_rustls()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// Sends SIGTERM, SIGINT, ... by name.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "bulwark did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the server process, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmRSS")
    }

    /// The log lines with `text` in their message or another field.
    pub fn log_lines(&self, text: &str) -> Vec<Value> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| {
                l.as_object().is_some_and(|o| {
                    o.values()
                        .any(|v| v.as_str().is_some_and(|s| s.contains(text)))
                })
            })
            .cloned()
            .collect()
    }

    /// Waits until a log line holds `text` (see [`Spawned::log_lines`]), and returns it.
    pub async fn wait_for_log(&self, text: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log_lines(text).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of the metric series `series` (name and labels as exported), 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .expect("admin answers")
            .text()
            .await
            .expect("metrics text");
        metric_value(&text, series)
    }
}

/// A series' value in the Prometheus text format, 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
        })
        .unwrap_or(0.0)
}

/// A field of /proc/PID/status in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a KiB figure")
}

/// Writes `content` to `path` through a temporary file and a rename, as an atomic update does.
pub fn replace_file(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}
