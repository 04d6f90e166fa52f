//! The command line (clap derive). Every `serve` flag also reads a `BULWARK_*` variable; a flag
//! wins over the policy file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::Mode;
pub use crate::offline::report::FailOn;

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
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,

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

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "BULWARK_BODY_LIMIT", default_value_t = 8 * 1024 * 1024)]
    pub body_limit: usize,

    /// Per-request timeout (e.g. 4s, 500ms); keep it under the webhook's timeoutSeconds.
    #[arg(long, env = "BULWARK_REQUEST_TIMEOUT", default_value = "4s")]
    pub request_timeout: humantime::Duration,

    /// How long in-flight requests may take to finish after SIGTERM; keep it below the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, env = "BULWARK_SHUTDOWN_GRACE", default_value = "10s")]
    pub shutdown_grace: humantime::Duration,

    /// How often the policy file and the TLS files are checked for changes.
    #[arg(long, env = "BULWARK_RELOAD_INTERVAL", default_value = "10s")]
    pub reload_interval: humantime::Duration,
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
}
