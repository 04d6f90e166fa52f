//! The only wiring code: builds the state each command needs from its arguments, starts what
//! runs, and waits for it to end.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context as _;

use crate::certs;
use crate::cli::{
    AuditArgs, AuditOutput, CertsArgs, CheckArgs, CheckOutput, Cli, Command, MutateArgs, OutArgs,
    PolicyArgs, RulesArgs, RulesOutput, ServeArgs, TlsArgs,
};
use crate::engine::{Kind, Origin, Policy};
use crate::offline::report::{self, Outcome};
use crate::server::metrics::Metrics;
use crate::server::reload::{self, PolicySource, TlsSource};
use crate::server::{self, AppState, tls};
use crate::{audit, catalog, install, manifests, offline};
use prometheus_client::registry::Registry;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Mutate(args) => mutate(args),
        Command::Audit(args) => audit(args).await,
        Command::Certs(args) => write_certs(&args),
        Command::Manifests(args) if args.vap => vap(&args.policy),
        Command::Manifests(args) => {
            let ca = args.ca.unwrap_or_default();
            let ca_pem =
                std::fs::read(&ca).with_context(|| format!("cannot read --ca {}", ca.display()))?;
            let options = install::RenderOptions {
                ca_pem,
                namespace: args.namespace,
                webhook_url: args.webhook_url,
                failure_policy: args.failure_policy,
            };
            print!("{}", install::render(&options)?);
            Ok(())
        }
        Command::Check(args) => check(args),
        Command::Rules(args) => rules(args),
        Command::Vap(args) => vap(&args.policy),
    }
}

fn vap(args: &PolicyArgs) -> anyhow::Result<()> {
    let policy = load_policy(args)?;
    write_stdout(&crate::vap::render(&policy))
}

/// Findings at or above `--fail-on` end the run with exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{count} finding(s) at or above --fail-on {fail_on}")]
pub struct FindingsFailed {
    pub count: usize,
    pub fail_on: &'static str,
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let policy = load_policy(&args.policy)?.select_rules(&args.select.selection())?;
    let now = crate::clock::unix_now();
    let report = offline::check::run_paths(&policy, &args.paths, now);
    let text = match args.output {
        CheckOutput::Text => {
            let color = args.out.out.is_none() && color_stdout();
            report::text::render(&report, args.fail_on, color)
        }
        CheckOutput::Json => report.to_json(),
        CheckOutput::Sarif => report::sarif::render(&report, &catalog::entries()),
        CheckOutput::Junit => report::junit::render(&report, args.fail_on),
        CheckOutput::Html => {
            let run = report::html::Run {
                command: "check",
                judged: judged_paths(&args.paths),
                policy: &policy,
                origin: Origin::Manifest,
                at: now,
            };
            report::html::render(&report, &run, &catalog::entries())
        }
    };
    write_output(&args.out, &text)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    // The text report lists errors itself; the machine formats keep stdout to one document.
    if args.output != CheckOutput::Text {
        for e in &report.errors {
            match e.line {
                Some(line) => eprintln!("error: {}:{line}: {}", e.file, e.message),
                None => eprintln!("error: {}: {}", e.file, e.message),
            }
        }
    }
    match report.outcome(args.fail_on) {
        Outcome::Pass => Ok(()),
        Outcome::Fail => Err(FindingsFailed {
            count: report.failing(args.fail_on),
            fail_on: args.fail_on.as_str(),
        }
        .into()),
        Outcome::InputErrors => Err(InputErrors {
            count: report.errors.len(),
        }
        .into()),
    }
}

fn rules(args: RulesArgs) -> anyhow::Result<()> {
    let entries = catalog::entries();
    let text = match args.output {
        RulesOutput::Text => catalog::render_text(&entries),
        RulesOutput::Markdown => catalog::render_markdown(&entries),
        RulesOutput::Json => catalog::render_json(&entries),
    };
    write_stdout(&text)
}

/// Colour on a terminal only, and never when `NO_COLOR` is set (https://no-color.org).
fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The paths `check` read, in words.
fn judged_paths(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| match p.to_str() {
            Some("-") => "standard input".to_string(),
            _ => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a report to `--out FILE`, or to stdout without one.
fn write_output(out: &OutArgs, text: &str) -> anyhow::Result<()> {
    match &out.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write --out {}", path.display())),
        None => write_stdout(text),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

/// `bulwark audit`: list, judge, report; exit 2 when something could not be listed or read.
async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let policy = load_policy(&args.policy)?.select_rules(&args.select.selection())?;
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read --kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await?
        }
        None => kube::Config::infer()
            .await
            .context("no cluster to audit: pass --kubeconfig, set KUBECONFIG, or run in a pod")?,
    };
    let judged = judged_cluster(&config.cluster_url, args.namespace.as_deref());
    let client = kube::Client::try_from(config)?;
    let now = crate::clock::unix_now();
    let mut progress = audit::progress::Progress::new(audit::progress::wanted(args.quiet));
    let mut listed = Vec::new();
    let mut errors = Vec::new();
    for kind in Kind::ALL {
        progress.listing(kind);
        match audit::cluster::list_kind(&client, kind, args.namespace.as_deref(), |n| {
            progress.page(n)
        })
        .await
        {
            Ok(mut objects) => listed.append(&mut objects),
            Err(e) => errors.push(e),
        }
        progress.listed();
    }
    progress.judging();
    let report = audit::judge(&policy, listed, errors, now);
    progress.done(&report);
    let text = match args.output {
        AuditOutput::Text => audit::render_text(&report),
        AuditOutput::Json => report.to_json(),
        AuditOutput::Html => {
            let run = report::html::Run {
                command: "audit",
                judged,
                policy: &policy,
                origin: Origin::Cluster,
                at: now,
            };
            report::html::render(&report, &run, &catalog::entries())
        }
    };
    write_output(&args.out, &text)?;
    if args.policy_reports {
        let api = args.report_api;
        let rendered =
            audit::policy_report::render(&report, api, now, audit::policy_report::MAX_RESULTS);
        let written =
            audit::reports::write(&client, api, rendered, args.namespace.as_deref(), now).await?;
        if !args.quiet {
            eprintln!(
                "wrote {written} {} report(s) ({}, {})",
                api.api_version(),
                api.kind(true),
                api.kind(false)
            );
        }
    }
    if !report.errors.is_empty() {
        return Err(InputErrors {
            count: report.errors.len(),
        }
        .into());
    }
    Ok(())
}

/// The cluster an audit judged, in words: its API server (scheme, host and port only) and
/// the namespace.
fn judged_cluster(url: &axum::http::Uri, namespace: Option<&str>) -> String {
    let server = match (url.scheme_str(), url.host(), url.port_u16()) {
        (Some(scheme), Some(host), Some(port)) => format!("{scheme}://{host}:{port}"),
        (Some(scheme), Some(host), None) => format!("{scheme}://{host}"),
        _ => "the cluster".to_string(),
    };
    match namespace {
        Some(ns) => format!("{server}, namespace {ns}"),
        None => format!("{server}, all namespaces"),
    }
}

/// `bulwark certs`: a CA and a serving certificate for NAME, NAME.NS, NAME.NS.svc and
/// NAME.NS.svc.cluster.local.
fn write_certs(args: &CertsArgs) -> anyhow::Result<()> {
    let (service, ns) = (&args.service, &args.namespace);
    let mut names = vec![
        service.clone(),
        format!("{service}.{ns}"),
        format!("{service}.{ns}.svc"),
        format!("{service}.{ns}.svc.cluster.local"),
    ];
    names.extend(args.dns_names.iter().cloned());
    let files = ["ca.crt", "ca.key", "tls.crt", "tls.key"];
    let existing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| args.out.join(f).exists())
        .collect();
    if !existing.is_empty() && !args.force {
        anyhow::bail!(
            "{} already has {}; pass --force to replace them",
            args.out.display(),
            existing.join(", ")
        );
    }
    let issued = certs::issue_for(&names, args.days, certs::Usage::Server, args.key_type)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (file, content, private) in [
        ("ca.crt", &issued.ca_cert_pem, false),
        ("ca.key", &issued.ca_key_pem, true),
        ("tls.crt", &issued.cert_pem, false),
        ("tls.key", &issued.key_pem, true),
    ] {
        write_file(&args.out.join(file), content.as_bytes(), private)?;
    }
    println!(
        "wrote {dir}/ca.crt, ca.key, tls.crt, tls.key for {names}",
        dir = args.out.display(),
        names = names.join(", ")
    );
    println!(
        "next: kubectl -n {ns} create secret tls bulwark-tls --cert {0}/tls.crt --key {0}/tls.key",
        args.out.display()
    );
    println!(
        "      bulwark manifests --ca {}/ca.crt --namespace {ns} | kubectl apply -f -",
        args.out.display()
    );
    Ok(())
}

/// Writes a file; private keys are readable by their owner only.
fn write_file(path: &Path, content: &[u8], private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Input errors end the run with exit code 2, after everything readable was handled.
#[derive(Debug, thiserror::Error)]
#[error("{count} input error(s); see above")]
pub struct InputErrors {
    pub count: usize,
}

fn mutate(args: MutateArgs) -> anyhow::Result<()> {
    let policy = load_policy(&args.policy)?.select_mutations(&args.select.selection())?;
    let items = manifests::read_paths(&args.paths);
    let run = offline::mutate::run(&policy, items, args.output, crate::clock::unix_now());
    print!("{}", run.stdout);
    for note in &run.notes {
        eprintln!("note: {note}");
    }
    for error in &run.errors {
        eprintln!("error: {error}");
    }
    if !run.errors.is_empty() {
        return Err(InputErrors {
            count: run.errors.len(),
        }
        .into());
    }
    Ok(())
}

/// Logs go to stderr: JSON when it is not a terminal (a pod), readable text when it is.
pub fn init_logging() {
    crate::logging::init();
}

/// Loads the policy the arguments name: the built-in one, or a file laid over it.
pub fn load_policy(args: &PolicyArgs) -> anyhow::Result<Policy> {
    match &args.policy {
        None => Ok(Policy::builtin()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the policy file {}", path.display()))?;
            Ok(Policy::layered(&path.display().to_string(), &text)?)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let limits = args.limits.limits().map_err(anyhow::Error::msg)?;
    let policy_source = args.policy.policy.clone().map(|path| PolicySource {
        path,
        mode: args.mode,
    });
    let policy = match &policy_source {
        Some(source) => {
            let text = reload::read_policy_file(source).map_err(anyhow::Error::msg)?;
            reload::load_policy(source, &text).map_err(anyhow::Error::msg)?
        }
        None => match args.mode {
            Some(mode) => Policy::builtin().with_mode(mode),
            None => Policy::builtin(),
        },
    };
    tracing::info!(source = %policy.source, mode = policy.mode.as_str(), rules = policy.active_rules().count(), "policy loaded");

    let (tls_source, material) = tls_material(&args.tls)?;
    let tls_config = tls::server_config(&material).context("cannot load the TLS certificate")?;
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    if let Some(expiry) = tls::leaf_not_after(&material.cert_pem) {
        metrics.set_certificate_expiry(expiry);
    }
    let state = AppState::with_metrics(policy, metrics, registry);
    // Many connections need many descriptors: use all the hard limit allows.
    server::connections::fd_limit(true);
    let running = server::start(
        state.clone(),
        args.listen,
        args.admin_listen,
        tls_config,
        limits,
    )
    .await
    .with_context(|| format!("cannot listen on {} and {}", args.listen, args.admin_listen))?;
    let reloader = reload::spawn(
        state,
        running.tls.clone(),
        policy_source,
        tls_source,
        args.reload_interval,
    );
    tracing::info!(webhook = %running.addr, admin = %running.admin_addr, "serving");

    shutdown_signal().await;
    running.start_draining();
    tracing::info!(
        delay = %humantime::format_duration(args.shutdown_delay),
        "draining: readiness is off; serving for --shutdown-delay, then finishing the requests in flight"
    );
    // A second signal ends the process at once, also during the delay.
    tokio::spawn(async {
        shutdown_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(1);
    });
    tokio::time::sleep(args.shutdown_delay).await;
    reloader.abort();
    running.shutdown(args.shutdown_grace).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the configured certificate (and says which files to watch), or makes a development
/// one in `--cert-dir`.
fn tls_material(args: &TlsArgs) -> anyhow::Result<(Option<TlsSource>, tls::TlsMaterial)> {
    let client_ca_pem = match &args.client_ca {
        Some(path) => Some(
            server::files::read_regular(path, server::files::MAX_PEM_BYTES)
                .with_context(|| format!("cannot read --client-ca {}", path.display()))?,
        ),
        None => None,
    };
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let source = TlsSource {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.client_ca.clone(),
        };
        let material = source.read().map_err(anyhow::Error::msg)?;
        return Ok((Some(source), material));
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    names.extend(args.dns_names.iter().cloned());
    let dir = &args.cert_dir;
    let issued = certs::issue(&names, 365)?;
    write_dev_certificate(dir, &issued)?;
    tracing::info!(
        dir = %dir.display(),
        names = %names.join(","),
        "no --tls-cert given: wrote a self-signed development certificate (tls.crt, tls.key) and its CA (ca.crt); trust ca.crt to call the webhook"
    );
    let material = tls::TlsMaterial {
        cert_pem: issued.cert_pem.into_bytes(),
        key_pem: issued.key_pem.into_bytes(),
        client_ca_pem,
    };
    Ok((None, material))
}

fn write_dev_certificate(dir: &Path, issued: &certs::IssuedCertificates) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create --cert-dir {}", dir.display()))?;
    for (name, content, private) in [
        ("ca.crt", &issued.ca_cert_pem, false),
        ("tls.crt", &issued.cert_pem, false),
        ("tls.key", &issued.key_pem, true),
    ] {
        write_file(&dir.join(name), content.as_bytes(), private)?;
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
