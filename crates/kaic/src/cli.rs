//! Command-line arguments (clap derive). Help texts are the user documentation of each flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kaic_checks::accelerators::inventory::AllocationMode;
use kaic_checks::inference::traffic::SendFrom;
use kaic_checks::observability::endpoint::{Endpoint, Headers};
use kaic_checks::scheduling::gang_scheduling::crd_group::FLAVORS;
use kaic_checks::timeouts::{TimeoutScale, Wait, WaitOverrides};
use kaic_model::ConformanceVersion;

#[derive(Debug, Parser)]
#[command(name = "kaic", version, about = "Kubernetes AI Conformance: behavioural checks and certification artefacts")]
#[command(
    after_help = "Exit codes: 0 every MUST met, 1 some MUST failed, 3 no MUST failed but some are undecided (unknown, error, \
                  no check; 1 with --strict), 2 kaic could not run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the checks against a cluster and write the report.
    Run(Box<RunArgs>),
    /// List the requirements of a conformance version.
    Requirements(RequirementsArgs),
    /// Delete everything earlier kaic runs left in the cluster (selected by kaic's labels only).
    Cleanup(CleanupArgs),
    /// The official checklist: fill PRODUCT.yaml from a run, or download the template.
    #[command(subcommand)]
    Checklist(crate::certify_cli::ChecklistCommand),
    /// Render a filled checklist (PRODUCT.yaml) as PRODUCT.md.
    #[command(subcommand)]
    Report(crate::certify_cli::ReportCommand),
    /// Check a submission (PRODUCT.yaml) the way a careful reviewer would.
    Validate(crate::certify_cli::ValidateArgs),
    /// Print the JSON Schema of kaic-results.json.
    Schema,
    /// List every image kaic's checks may run (key, default image, what uses it), for mirroring into an
    /// air-gapped registry; with --image-registry, the mirrored names kaic will use.
    Images(ImagesArgs),
    /// Print a least-privilege ServiceAccount, ClusterRole and ClusterRoleBinding for kaic, for
    /// `kubectl apply -f -`: exactly the permissions preflight asks for, each rule commented with why.
    Rbac(RbacArgs),
    /// The public registry of certified platforms: add or import submissions, serve the list, badges,
    /// feed and JSON API.
    #[command(subcommand)]
    Registry(crate::registry_cli::RegistryCommand),
}

/// How to reach the cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub fn target(&self) -> kaic_checks::cluster::Target {
        kaic_checks::cluster::Target { kubeconfig: self.kubeconfig.clone(), context: self.context.clone() }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Conformance version to check against [default: the server's minor; the newest known for newer servers].
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub conformance_version: Option<ConformanceVersion>,
    /// Run only these checks (repeat or separate with commas).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub focus: Vec<String>,
    /// Do not run these checks (repeat or separate with commas).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Also run opt-in checks, and let checks make the platform add nodes that cost money (cluster_autoscaling
    /// on any autoscaler but testenv's kwok provider: without this flag it is unknown and says so).
    #[arg(long)]
    pub include_opt_in: bool,
    /// Print what would run and what it would create, then stop. Still connects to learn the version.
    #[arg(long)]
    pub dry_run: bool,
    /// Where kaic-results.json, report.md, junit.xml, results.json, e2e.log and evidence/ are written.
    #[arg(long, value_name = "DIR", default_value = "kaic-report")]
    pub output_dir: PathBuf,
    /// How many checks run at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// Image for pods that only need to exist, pinned by tag (mirror it for air-gapped clusters)
    /// [default: registry.k8s.io/pause:3.10].
    #[arg(long, value_name = "IMAGE")]
    pub pause_image: Option<String>,
    /// A mirror registry for every default image kaic runs (`kaic images` lists them): each default's registry
    /// host is replaced by HOST (which may carry a path, e.g. mirror.example:5000/kaic); images given with
    /// --probe-image or --pause-image are used as given.
    #[arg(long, value_name = "HOST", value_parser = parse_registry)]
    pub image_registry: Option<String>,
    /// Where ai_inference and advanced_inference_ingress send their requests through a Gateway from: kaic itself
    /// when it reaches the Gateway's address (else a client pod), or always client pods in kaic's namespace.
    #[arg(long, value_enum, default_value_t = SendFromArg::Auto)]
    pub send_from: SendFromArg,
    /// Accelerator allocation paths to exercise: every path the cluster offers, or only one.
    #[arg(long, value_enum, default_value_t = AllocationModeArg::Auto)]
    pub allocation_mode: AllocationModeArg,
    /// Probe image, as KEY=IMAGE: for one accelerator vendor's probe (keys nvidia, amd, intel, gaudi); for the
    /// workload_sandboxing probe as sandbox=IMAGE (any image with a POSIX shell); for accelerator_metrics' load
    /// as gpu-load=IMAGE (default for NVIDIA: nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04 running
    /// dcgmproftester12; for other vendors an image whose entrypoint keeps one device busy); for the model
    /// server of ai_service_metrics and ai_inference as model-server=IMAGE (an OpenAI-compatible server with
    /// vLLM's metrics that names its pod in `x-inference-pod`; default ghcr.io/llm-d/llm-d-inference-sim:v0.10.2);
    /// for ai_inference's in-cluster client as http-client=IMAGE (sh and curl >= 7.84); for
    /// high_performance_networking's probe as netdev=IMAGE (busybox's sh, ip, httpd and wget, and /sys; default
    /// registry.k8s.io/e2e-test-images/busybox:1.36.1-1); for advanced_inference_ingress' pickers as
    /// endpoint-picker=IMAGE and scoring-endpoint-picker=IMAGE; for disaggregated_inference's sidecar as
    /// routing-sidecar=IMAGE; `kaic images` lists every key with its default; repeatable.
    #[arg(long, value_name = "KEY=IMAGE", value_parser = parse_probe_image)]
    pub probe_image: Vec<(String, String)>,
    /// The accelerator metrics endpoint, where kaic does not find the exporter itself (DCGM exporter, AMD device
    /// metrics exporter, Intel XPU Manager, Gaudi metric exporter) or the API server cannot reach its pods: a URL
    /// reachable from where kaic runs, or NAMESPACE/NAME:PORT[/PATH] for a Service or pod reached through the API
    /// server's proxy (path default /metrics).
    #[arg(long, value_name = "URL|NS/NAME:PORT[/PATH]", value_parser = parse_metrics_endpoint)]
    pub accelerator_metrics_url: Option<Endpoint>,
    /// The monitoring system's Prometheus-compatible query API (the part before /api/v1/query), where kaic does
    /// not find it among the Services (managed back-ends): a URL, or NAMESPACE/SERVICE:PORT[/PATH] through the API
    /// server's proxy.
    #[arg(long, value_name = "URL|NS/SERVICE:PORT[/PATH]", value_parser = parse_prometheus_endpoint)]
    pub prometheus_url: Option<Endpoint>,
    /// A file holding a bearer token sent with every query to --prometheus-url (a URL only: the API server's
    /// proxy drops Authorization headers).
    #[arg(long, value_name = "FILE", requires = "prometheus_url")]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// A header sent with every query to --prometheus-url, as 'Name: value' (e.g. 'X-Scope-OrgID: team-a');
    /// repeatable.
    #[arg(long, value_name = "'NAME: VALUE'", requires = "prometheus_url", value_parser = parse_header)]
    pub prometheus_header: Vec<(String, String)>,
    /// The per-pod custom metric pod_autoscaling's HorizontalPodAutoscaler scales on, as the platform's custom
    /// metrics API names it, where it maps vLLM's metrics under a name kaic does not recognise (default: a vLLM
    /// metric of requests waiting or running that the custom metrics API lists for kaic's pods).
    #[arg(long, value_name = "NAME")]
    pub hpa_metric: Option<String>,
    /// Scheduler name of one gang solution, as SOLUTION=NAME, where the cluster renamed it (solutions:
    /// volcano, kai-scheduler, coscheduling; defaults: volcano, kai-scheduler, scheduler-plugins-scheduler);
    /// repeatable.
    #[arg(long, value_name = "SOLUTION=NAME", value_parser = parse_scheduler_name)]
    pub scheduler_name: Vec<(String, String)>,
    /// Queue for one gang solution's PodGroups, as SOLUTION=QUEUE (solutions: volcano, kai-scheduler;
    /// defaults: default, default-queue); repeatable.
    #[arg(long, value_name = "SOLUTION=QUEUE", value_parser = parse_gang_queue)]
    pub gang_queue: Vec<(String, String)>,
    /// Fill this official checklist template (`kaic checklist fetch` downloads it) into
    /// <output-dir>/PRODUCT.yaml after the run; needs --platform-info.
    #[arg(long, value_name = "TEMPLATE", requires = "platform_info")]
    pub checklist: Option<PathBuf>,
    /// The platform's metadata and extra evidence for the checklist (format: crates/certify/README.md).
    #[arg(long, value_name = "FILE", requires = "checklist")]
    pub platform_info: Option<PathBuf>,
    /// Plain line output instead of live progress (the default when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Multiply every named wait and every check's budget by F, for slow clusters (image pulls, node
    /// start-up); the table is in the README.
    #[arg(long, value_name = "F", default_value = "1", value_parser = parse_timeout_scale)]
    pub timeout_scale: TimeoutScale,
    /// Set one named wait outright, in seconds, as NAME=SECONDS (names in the README's timeout table), e.g.
    /// node-scale-down=1800 for an autoscaler that removes unneeded nodes after 30 minutes; repeatable.
    #[arg(long = "wait", value_name = "NAME=SECONDS", value_parser = WaitOverrides::parse)]
    pub waits: Vec<(Wait, Duration)>,
    /// Exit 1 also when some MUST is only undecided (unknown, error, no check), instead of 3.
    #[arg(long)]
    pub strict: bool,
}

impl RunArgs {
    /// The headers for the query API: `--prometheus-header`s and the bearer token read from its file.
    ///
    /// # Errors
    /// A sentence naming the flag, the problem and the fix: an unreadable or empty token file, or a token for
    /// an endpoint reached through the API server's proxy.
    pub fn prometheus_headers(&self) -> Result<Headers, String> {
        let mut headers = self.prometheus_header.clone();
        if let Some(file) = &self.prometheus_bearer_token_file {
            if !matches!(self.prometheus_url, Some(Endpoint::Url(_))) {
                return Err(
                    "--prometheus-bearer-token-file needs --prometheus-url to be a URL: the API server's proxy drops \
                     Authorization headers; give the query API's URL (e.g. https://thanos-querier.example:9091)"
                        .into(),
                );
            }
            let token = std::fs::read_to_string(file).map_err(|e| {
                format!("--prometheus-bearer-token-file {}: cannot read it ({e}): check the path", file.display())
            })?;
            let token = token.trim();
            if token.is_empty() || token.contains(['\n', '\r']) {
                return Err(format!(
                    "--prometheus-bearer-token-file {}: the file must hold one token on one line",
                    file.display()
                ));
            }
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        Ok(Headers(headers))
    }
}

fn parse_metrics_endpoint(s: &str) -> Result<Endpoint, String> {
    Endpoint::parse(s, "/metrics")
}

fn parse_prometheus_endpoint(s: &str) -> Result<Endpoint, String> {
    Endpoint::parse(s, "")
}

/// `Name: value`, a valid HTTP header.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once(':') else {
        return Err(format!("'{s}' is not a header: write it as 'Name: value', e.g. 'X-Scope-OrgID: team-a'"));
    };
    let (name, value) = (name.trim(), value.trim());
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() || name.is_empty() {
        return Err(format!("'{name}' is not a valid header name: use letters, digits and '-', e.g. X-Scope-OrgID"));
    }
    if value.is_empty() || http::HeaderValue::from_str(value).is_err() {
        return Err(format!("the value of header '{name}' is empty or not valid in a header: give visible ASCII text"));
    }
    if name.eq_ignore_ascii_case("authorization") {
        return Err("give the token with --prometheus-bearer-token-file FILE rather than on the command line, where \
                    other users of the machine can read it"
            .into());
    }
    Ok((name.to_string(), value.to_string()))
}

fn parse_timeout_scale(text: &str) -> Result<TimeoutScale, String> {
    let factor: f64 =
        text.trim().parse().map_err(|_| format!("'{text}' is not a number: give a factor such as 2 or 1.5"))?;
    TimeoutScale::new(factor)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AllocationModeArg {
    /// Every path the cluster offers.
    Auto,
    /// Only DRA ResourceClaims.
    Dra,
    /// Only device-plugin extended resources.
    DevicePlugin,
}

impl From<AllocationModeArg> for AllocationMode {
    fn from(arg: AllocationModeArg) -> Self {
        match arg {
            AllocationModeArg::Auto => AllocationMode::Auto,
            AllocationModeArg::Dra => AllocationMode::Dra,
            AllocationModeArg::DevicePlugin => AllocationMode::DevicePlugin,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SendFromArg {
    /// kaic when it reaches the Gateway's address, else a client pod.
    Auto,
    /// Always a client pod in the cluster.
    Cluster,
}

impl From<SendFromArg> for SendFrom {
    fn from(arg: SendFromArg) -> Self {
        match arg {
            SendFromArg::Auto => SendFrom::Auto,
            SendFromArg::Cluster => SendFrom::Cluster,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct RequirementsArgs {
    /// Conformance version.
    #[arg(long, value_name = "VERSION", value_parser = parse_version, default_value = "1.36")]
    pub conformance_version: ConformanceVersion,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show each default as kaic will run it from this mirror (same meaning as in `kaic run`).
    #[arg(long, value_name = "HOST", value_parser = parse_registry)]
    pub image_registry: Option<String>,
    /// Output format: a table, JSON, or the bare image names one per line (for a mirroring script).
    #[arg(long, value_enum, default_value_t = ImagesFormat::Table)]
    pub output: ImagesFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImagesFormat {
    Table,
    Json,
    List,
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Namespace of the ServiceAccount (it must exist: `kubectl create namespace kaic`).
    #[arg(long, value_name = "NAMESPACE", default_value = "kaic", value_parser = parse_dns_label)]
    pub namespace: String,
    /// Name of the ServiceAccount, the ClusterRole and the ClusterRoleBinding.
    #[arg(long, value_name = "NAME", default_value = "kaic", value_parser = parse_dns_label)]
    pub name: String,
    /// Output format: YAML documents with comments, or a JSON `v1` List of the same objects.
    #[arg(long, value_enum, default_value_t = RbacFormat::Yaml)]
    pub output: RbacFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RbacFormat {
    Yaml,
    Json,
}

fn parse_dns_label(s: &str) -> Result<String, String> {
    kaic_checks::rbac::check_name(s).map(|()| s.to_string())
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Only what this run created (its id is in kaic-results.json and in kaic's labels).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
}

fn parse_probe_image(s: &str) -> Result<(String, String), String> {
    // Every key of the one image table (`kaic images`).
    parse_keyed(s, &kaic_checks::images::probe_image_keys(), "key", "nvidia=registry.example/cuda:12.6.3-base")
}

/// A registry host for `--image-registry`: no scheme, no spaces, no tag.
fn parse_registry(s: &str) -> Result<String, String> {
    let host = s.trim_end_matches('/');
    if host.is_empty() || host.contains("://") || host.contains(char::is_whitespace) || host.contains('@') {
        return Err(format!(
            "'{s}' is not a registry host: give a host, optionally with a port and a path, without a scheme, e.g. \
             mirror.example:5000/kaic"
        ));
    }
    Ok(host.to_string())
}

/// `KEY=VALUE` where KEY is one of `known`; `example` shows the shape in the error.
fn parse_keyed(s: &str, known: &[&str], what: &str, example: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if known.contains(&key) && !value.is_empty() => Ok((key.to_string(), value.to_string())),
        Some((key, _)) if !known.contains(&key) => {
            Err(format!("unknown {what} '{key}': use one of {}", known.join(", ")))
        }
        _ => Err(format!("expected {}=VALUE, e.g. {example}", what.to_uppercase())),
    }
}

fn parse_scheduler_name(s: &str) -> Result<(String, String), String> {
    let known: Vec<&str> = FLAVORS.iter().map(|f| f.key).collect();
    parse_keyed(s, &known, "solution", "volcano=volcano-prod")
}

fn parse_gang_queue(s: &str) -> Result<(String, String), String> {
    let known: Vec<&str> = FLAVORS.iter().filter(|f| f.queue.is_some()).map(|f| f.key).collect();
    parse_keyed(s, &known, "solution", "kai-scheduler=team-a")
}

fn parse_version(s: &str) -> Result<ConformanceVersion, String> {
    s.parse().map_err(|e: kaic_model::catalogue::UnknownVersion| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(extra: &[&str]) -> Result<Box<RunArgs>, clap::Error> {
        let mut argv = vec!["kaic", "run"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Run(args) => Ok(args),
            _ => unreachable!("kaic run parses as Run"),
        }
    }

    #[test]
    fn metrics_endpoints_and_headers_are_checked_with_the_fix_in_the_message() {
        let args = run_args(&[
            "--accelerator-metrics-url",
            "gpu-operator/nvidia-dcgm-exporter:9400",
            "--prometheus-url",
            "https://thanos.example:9091",
            "--prometheus-header",
            "X-Scope-OrgID: team-a",
            "--probe-image",
            "gpu-load=registry.example/dcgm:4.2.3-1-ubuntu22.04",
            "--probe-image",
            "model-server=registry.example/llm-d-inference-sim:v0.10.2",
        ])
        .unwrap();
        assert!(matches!(args.accelerator_metrics_url, Some(Endpoint::Proxy { ref path, .. }) if path == "/metrics"));
        assert_eq!(args.prometheus_url, Some(Endpoint::Url("https://thanos.example:9091".into())));
        assert_eq!(args.prometheus_headers().unwrap().0, vec![("X-Scope-OrgID".to_string(), "team-a".to_string())]);
        assert_eq!(args.probe_image.len(), 2);

        let err = run_args(&["--prometheus-url", "prometheus:9090"]).unwrap_err().to_string();
        assert!(err.contains("names no namespace") && err.contains("NAMESPACE/NAME:PORT"), "{err}");
        let err = run_args(&["--prometheus-header", "X-A: b"]).unwrap_err().to_string();
        assert!(err.contains("--prometheus-url"), "a header needs the URL: {err}");
        let err = run_args(&["--prometheus-url", "http://p:9090", "--prometheus-header", "no colon"]).unwrap_err();
        assert!(err.to_string().contains("'Name: value'"), "{err}");
        let err = run_args(&["--prometheus-url", "http://p:9090", "--prometheus-header", "Authorization: Bearer x"]);
        assert!(err.unwrap_err().to_string().contains("--prometheus-bearer-token-file"));
    }

    #[test]
    fn the_bearer_token_is_read_from_its_file_for_urls_only() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "abc.def\n").unwrap();
        let file = token.to_str().unwrap();
        let args =
            run_args(&["--prometheus-url", "https://p.example", "--prometheus-bearer-token-file", file]).unwrap();
        assert_eq!(
            args.prometheus_headers().unwrap().0,
            vec![("Authorization".to_string(), "Bearer abc.def".to_string())]
        );
        let proxied =
            run_args(&["--prometheus-url", "monitoring/prometheus:9090", "--prometheus-bearer-token-file", file]);
        let err = proxied.unwrap().prometheus_headers().unwrap_err();
        assert!(err.contains("drops Authorization headers"), "{err}");
        let missing =
            run_args(&["--prometheus-url", "https://p.example", "--prometheus-bearer-token-file", "/nonexistent/t"]);
        let err = missing.unwrap().prometheus_headers().unwrap_err();
        assert!(err.contains("cannot read it") && err.contains("check the path"), "{err}");
    }
}
