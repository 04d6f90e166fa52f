//! The command line (clap derive). Every `serve` flag also reads a `BULWARK_*` variable; a flag
//! wins over the policy file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::Mode;
pub use crate::offline::report::FailOn;
use crate::server::Limits;

#[derive(Debug, Parser)]
#[command(
    name = "bulwark",
    version,
    about = "Kubernetes admission webhook that enforces proven deployment practices"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the larger arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the validating and mutating webhook over TLS, with an admin port for probes.
    Serve(ServeArgs),
    /// Show what the mutating webhook would change in manifest files.
    Mutate(MutateArgs),
    /// Judge what already runs in a cluster (dry run: changes nothing but the reports).
    Audit(AuditArgs),
    /// Make a CA and a serving certificate for the in-cluster Service.
    Certs(CertsArgs),
    /// Print the deploy/ set (or only the webhook configurations) with caBundle filled in.
    Manifests(ManifestsArgs),
    /// Check manifest files against the rules (CI, `helm template ... | bulwark check -f -`).
    Check(CheckArgs),
    /// List every rule and mutation: id, kinds, default action, where it fires, why.
    Rules(RulesArgs),
    /// Print the policy's rules as ValidatingAdmissionPolicies and bindings (YAML), for the API
    /// server to enforce in-process.
    Vap(VapArgs),
}

#[derive(Debug, Args)]
pub struct VapArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Only this namespace (cluster-scoped kinds are then left out).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub select: SelectArgs,

    /// text: totals, findings per rule and per namespace, then each finding; json: the report
    /// shape of `check` (without file and line); html: a self-contained page with the score,
    /// charts and every finding.
    #[arg(long, short = 'o', value_enum, default_value_t = AuditOutput::Text)]
    pub output: AuditOutput,

    #[command(flatten)]
    pub out: OutArgs,

    /// Also write one policy report per namespace and one for cluster-scoped objects, updated
    /// in place on every run (needs the CRDs of deploy/crds).
    #[arg(long)]
    pub policy_reports: bool,

    /// The API of those reports: wgpolicyk8s (PolicyReport, ClusterPolicyReport of
    /// wgpolicyk8s.io/v1alpha2) or openreports (Report, ClusterReport of openreports.io/v1alpha1,
    /// their successor).
    #[arg(long, value_enum, default_value_t = ReportApi::Wgpolicyk8s, requires = "policy_reports")]
    pub report_api: ReportApi,

    /// No progress on stderr (it is shown only on a terminal, and never with NO_COLOR set).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditOutput {
    Text,
    Json,
    Html,
}

pub use crate::audit::policy_report::ReportApi;

/// Where a report goes.
#[derive(Debug, Args)]
pub struct OutArgs {
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The Service name the API server calls.
    #[arg(long, default_value = "bulwark")]
    pub service: String,

    /// The Service's namespace.
    #[arg(long, default_value = "bulwark-system")]
    pub namespace: String,

    /// Where to write ca.crt, ca.key, tls.crt and tls.key.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,

    /// How long the certificates are valid.
    #[arg(long, default_value_t = 365)]
    pub days: i64,

    /// The key algorithm.
    #[arg(long, value_enum, default_value_t = crate::certs::KeyType::EcdsaP256)]
    pub key_type: crate::certs::KeyType,

    /// More DNS names or IP addresses for the serving certificate (e.g. 127.0.0.1 for a
    /// webhook run outside the cluster).
    #[arg(long = "dns-name", value_delimiter = ',', value_name = "NAME")]
    pub dns_names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// The CA that signed the serving certificate (PEM); its base64 becomes caBundle.
    #[arg(long, value_name = "FILE", required_unless_present = "vap")]
    pub ca: Option<PathBuf>,

    /// Print only the ValidatingAdmissionPolicies and bindings of the policy (as `bulwark vap`).
    #[arg(long, conflicts_with_all = ["ca", "webhook_url", "failure_policy"])]
    pub vap: bool,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// The namespace to install into.
    #[arg(long, default_value = "bulwark-system")]
    pub namespace: String,

    /// Call the webhook at this https:// base URL instead of the in-cluster Service (BASE_URL +
    /// /validate and /mutate); prints only the two webhook configurations.
    #[arg(long, value_name = "BASE_URL")]
    pub webhook_url: Option<String>,

    /// failurePolicy for both webhooks (default: Fail for validate, Ignore for mutate).
    #[arg(long, value_parser = ["Fail", "Ignore"])]
    pub failure_policy: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories of manifests (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub select: SelectArgs,

    /// text: grouped by file and object; json: the report for tools; sarif: SARIF 2.1.0 for
    /// code scanning; junit: JUnit XML for CI test views; html: a self-contained page with the
    /// score, charts and every finding.
    #[arg(long, short = 'o', value_enum, default_value_t = CheckOutput::Text)]
    pub output: CheckOutput,

    #[command(flatten)]
    pub out: OutArgs,

    /// The weakest action that fails the run with exit code 1.
    #[arg(long, value_enum, default_value_t = FailOn::Deny)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckOutput {
    Text,
    Json,
    Sarif,
    Junit,
    Html,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// text: for a terminal; markdown: the catalog as docs/rules.md holds it; json: for tools.
    #[arg(long, short = 'o', value_enum, default_value_t = RulesOutput::Text)]
    pub output: RulesOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesOutput {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct MutateArgs {
    /// Files or directories of manifests (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub select: SelectArgs,

    /// yaml: the mutated manifests; patch: the JSON Patch per object; diff: a unified diff.
    #[arg(long, short = 'o', value_enum, default_value_t = MutateOutput::Yaml)]
    pub output: MutateOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MutateOutput {
    Yaml,
    Patch,
    Diff,
}

/// Which rules a run picks, by id (`bulwark rules` lists them).
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Run only these rules (comma-separated ids; for `mutate`, mutation ids or the rules they
    /// answer). Rules the policy switches off stay off.
    #[arg(long = "rule", value_delimiter = ',', value_name = "ID")]
    pub rules: Vec<String>,

    /// Leave these rules out (comma-separated ids; for `mutate`, mutation or rule ids).
    #[arg(long = "skip-rule", value_delimiter = ',', value_name = "ID")]
    pub skip_rules: Vec<String>,
}

impl SelectArgs {
    pub fn selection(&self) -> crate::engine::Selection {
        let clean = |ids: &[String]| {
            ids.iter()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect()
        };
        crate::engine::Selection {
            only: clean(&self.rules),
            skip: clean(&self.skip_rules),
        }
    }
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Policy file laid over the built-in policy (policies/default.yaml).
    #[arg(long, env = "BULWARK_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the TLS webhook port (/validate, /mutate).
    #[arg(long, env = "BULWARK_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP admin port (/healthz, /readyz).
    #[arg(long, env = "BULWARK_ADMIN_LISTEN", default_value = "0.0.0.0:9090")]
    pub admin_listen: SocketAddr,

    #[command(flatten)]
    pub policy: PolicyArgs,

    /// enforce or audit (the dry-run audit mode); wins over the policy file's `mode`.
    #[arg(long, env = "BULWARK_MODE")]
    pub mode: Option<Mode>,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// After SIGTERM, how long to keep serving with readiness off before draining, so that
    /// endpoints stop sending reviews first (0s: drain at once).
    #[arg(long, env = "BULWARK_SHUTDOWN_DELAY", default_value = "5s", value_parser = any_duration)]
    pub shutdown_delay: Duration,

    /// How long in-flight requests may take to finish once draining starts; keep the delay
    /// plus the grace below the pod's terminationGracePeriodSeconds.
    #[arg(long, env = "BULWARK_SHUTDOWN_GRACE", default_value = "10s", value_parser = any_duration)]
    pub shutdown_grace: Duration,

    /// How often the policy file and the TLS files are checked for changes (at least 1s).
    #[arg(long, env = "BULWARK_RELOAD_INTERVAL", default_value = "10s", value_parser = reload_interval)]
    pub reload_interval: Duration,
}

/// Limits of the webhook port: sizes, counts and deadlines (see `server/limits.rs`).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest accepted request body (bytes, or with KiB/MiB/GiB); larger bodies get 413.
    #[arg(long, env = "BULWARK_BODY_LIMIT", default_value = "8MiB", value_parser = body_limit)]
    pub body_limit: usize,

    /// From the request headers to the answer (e.g. 4s, 500ms); a review not judged by then
    /// gets 503. Keep it under the webhook's timeoutSeconds.
    #[arg(long, env = "BULWARK_REQUEST_TIMEOUT", default_value = "4s", value_parser = positive_duration)]
    pub request_timeout: Duration,

    /// The request body must arrive within this time after the headers, or the request gets 408.
    #[arg(long, env = "BULWARK_BODY_READ_TIMEOUT", default_value = "3s", value_parser = positive_duration)]
    pub body_read_timeout: Duration,

    /// Open connections on the webhook port at most; more are closed at once, logged and
    /// counted. Lowered at start to stay below the open-file limit.
    #[arg(long, env = "BULWARK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Requests being read or judged at once (each judged on its own thread); more get 503 at once.
    #[arg(long, env = "BULWARK_MAX_REQUESTS_IN_FLIGHT", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_requests_in_flight: u32,

    /// Of those, requests with a body over 128KiB, judged at a lower CPU priority; more get
    /// 503 at once.
    #[arg(long, env = "BULWARK_MAX_LARGE_REVIEWS_IN_FLIGHT", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_large_reviews_in_flight: u32,

    /// Request body bytes held at once (bytes, or with KiB/MiB/GiB); a request that would pass
    /// it gets 503 at once. At least --body-limit.
    #[arg(long, env = "BULWARK_MAX_BODY_BYTES_IN_FLIGHT", default_value = "32MiB", value_parser = body_limit)]
    pub max_body_bytes_in_flight: usize,

    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, env = "BULWARK_HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub http2_max_concurrent_streams: u32,

    /// A client must finish the TLS handshake within this time.
    #[arg(long, env = "BULWARK_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub tls_handshake_timeout: Duration,

    /// After the handshake, or after the first byte of a later HTTP/1 request, the request
    /// headers must be complete within this time, or the connection is closed.
    #[arg(long, env = "BULWARK_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,

    /// A connection with no request in flight for this long is closed (keep it above the
    /// client's own idle timeout, 90s for the API server).
    #[arg(long, env = "BULWARK_IDLE_TIMEOUT", default_value = "120s", value_parser = positive_duration)]
    pub idle_timeout: Duration,
}

impl LimitArgs {
    /// The limits, checked against each other.
    pub fn limits(&self) -> Result<Limits, String> {
        let limits = Limits {
            body_bytes: self.body_limit,
            request_timeout: self.request_timeout,
            body_read_timeout: self.body_read_timeout,
            max_connections: self.max_connections as usize,
            max_requests_in_flight: self.max_requests_in_flight as usize,
            max_large_reviews_in_flight: self.max_large_reviews_in_flight as usize,
            max_body_bytes_in_flight: self.max_body_bytes_in_flight,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams,
            tls_handshake_timeout: self.tls_handshake_timeout,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        };
        limits.check()?;
        Ok(limits)
    }
}

/// Shortest `--reload-interval`: each tick reads and compares every watched file.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// Smallest `--body-limit`: the smallest AdmissionReview the API server sends is a few KiB.
pub const MIN_BODY_LIMIT: usize = 1024;

fn any_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (use e.g. 4s, 500ms, 1m)"))
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = any_duration(text)?;
    if duration < Duration::from_millis(1) {
        return Err("must be at least 1ms (e.g. 4s, 500ms): 0 would refuse every request".into());
    }
    Ok(duration)
}

fn reload_interval(text: &str) -> Result<Duration, String> {
    let duration = any_duration(text)?;
    if duration < MIN_RELOAD_INTERVAL {
        return Err(format!(
            "must be at least {}: a shorter interval re-reads the files in a busy loop",
            humantime::format_duration(MIN_RELOAD_INTERVAL)
        ));
    }
    Ok(duration)
}

fn body_limit(text: &str) -> Result<usize, String> {
    let bytes = byte_size(text)?;
    if bytes < MIN_BODY_LIMIT {
        return Err(format!(
            "must be at least {MIN_BODY_LIMIT} bytes (1KiB): a smaller limit refuses every review"
        ));
    }
    Ok(bytes)
}

/// A size in bytes: a number, optionally followed by KiB, MiB or GiB.
fn byte_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` (use a number of bytes, or KiB, MiB, GiB)"
            ));
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is not a size (use e.g. 8MiB, 512KiB, 1048576)"))
}

#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM certificate chain for the webhook port.
    #[arg(
        long,
        env = "BULWARK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "BULWARK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Without --tls-cert: where the generated development certificate and its CA are written
    /// (ca.crt, tls.crt, tls.key).
    #[arg(
        long,
        env = "BULWARK_CERT_DIR",
        default_value = "certs",
        value_name = "DIR"
    )]
    pub cert_dir: PathBuf,

    /// Extra DNS names or IPs for the development certificate (besides localhost, 127.0.0.1).
    #[arg(
        long = "dns-name",
        env = "BULWARK_DNS_NAME",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub dns_names: Vec<String>,

    /// PEM CA bundle: require client certificates signed by it (for API servers that
    /// authenticate to webhooks).
    #[arg(long, env = "BULWARK_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(args: &[&str]) -> Result<AuditArgs, clap::Error> {
        let all = ["bulwark", "audit"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(all)?.command {
            Command::Audit(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec!["bulwark", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(args) => Ok(args),
            _ => unreachable!("serve parses as serve"),
        }
    }

    #[test]
    fn the_report_api_defaults_to_wgpolicyk8s_and_needs_policy_reports() {
        let a = audit(&["--policy-reports"]).expect("parses");
        assert_eq!(a.report_api, ReportApi::Wgpolicyk8s);
        let a = audit(&[
            "--policy-reports",
            "--report-api",
            "openreports",
            "-o",
            "html",
        ])
        .expect("parses");
        assert_eq!(a.report_api, ReportApi::Openreports);
        assert_eq!(a.output, AuditOutput::Html);
        assert!(audit(&["--report-api", "openreports"]).is_err());
        assert!(audit(&["--policy-reports", "--report-api", "v1alpha2"]).is_err());
        let a = audit(&["--quiet", "--out", "report.html"]).expect("parses");
        assert!(a.quiet);
        assert_eq!(a.out.out, Some(PathBuf::from("report.html")));
    }

    #[test]
    fn the_flag_defaults_are_the_limit_defaults() {
        let args = serve_args(&[]).expect("defaults parse");
        assert_eq!(args.limits.limits(), Ok(Limits::default()));
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(byte_size("8MiB"), Ok(8 << 20));
        assert_eq!(byte_size("512KiB"), Ok(512 << 10));
        assert_eq!(byte_size("1048576"), Ok(1 << 20));
        assert!(byte_size("8MB").is_err());
        assert!(byte_size("lots").is_err());
    }

    #[test]
    fn harmful_values_are_refused_with_the_reason() {
        for (flag, value, reason) in [
            ("--reload-interval", "0s", "at least 1s"),
            ("--reload-interval", "1ns", "at least 1s"),
            ("--body-limit", "0", "at least 1024 bytes"),
            ("--request-timeout", "0s", "at least 1ms"),
            ("--body-read-timeout", "0s", "at least 1ms"),
            ("--header-read-timeout", "0s", "at least 1ms"),
            ("--idle-timeout", "0s", "at least 1ms"),
            ("--tls-handshake-timeout", "0s", "at least 1ms"),
            ("--max-connections", "0", "0 is not in 1.."),
            ("--max-requests-in-flight", "0", "0 is not in 1..=4096"),
            ("--max-large-reviews-in-flight", "0", "0 is not in 1..=64"),
            ("--http2-max-concurrent-streams", "0", "0 is not in 1.."),
        ] {
            let error = serve_args(&[flag, value]).expect_err(flag).to_string();
            assert!(error.contains(flag), "{flag}: {error}");
            assert!(error.contains(reason), "{flag} {value}: {error}");
        }
    }

    #[test]
    fn the_deployment_args_parse_and_fit_the_termination_grace_period() {
        let text = include_str!("../deploy/deployment.yaml");
        let deployment: serde_json::Value = serde_saphyr::from_str(text).expect("yaml");
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert_eq!(args.first(), Some(&"serve"));
        let serve = serve_args(&args[1..]).expect("the deployment's flags parse");
        let limits = serve.limits.limits().expect("consistent limits");
        assert!(limits.body_bytes <= limits.max_body_bytes_in_flight);
        let pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .expect("a preStop sleep");
        let budget = Duration::from_secs(pre_stop) + serve.shutdown_delay + serve.shutdown_grace;
        let grace = pod["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("grace");
        assert!(
            budget < Duration::from_secs(grace),
            "preStop + --shutdown-delay + --shutdown-grace = {budget:?}, not under {grace}s"
        );
    }
}
