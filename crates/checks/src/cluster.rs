//! Reaching a cluster: the kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`) or the
//! in-cluster service account, and one-line errors that name the problem and its fix.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

/// Where to find the cluster, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// An explicit kubeconfig file; `None`: `KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig other than its current one.
    pub context: Option<String>,
}

/// A connected cluster.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// The API server URL, for reports.
    pub server: String,
}

/// Why kaic cannot talk to the cluster. Each message names the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no kubeconfig found ({searched}) and not running inside a cluster: pass --kubeconfig FILE or set KUBECONFIG"
    )]
    NoConfig { searched: String },
    #[error("failed to read kubeconfig {path}: {cause}: check the path, or pass --kubeconfig FILE")]
    Unreadable { path: String, cause: String },
    #[error("kubeconfig {path} is not valid: {cause}: fix the file or pass another with --kubeconfig")]
    Invalid { path: String, cause: String },
    #[error("context '{context}' is not in kubeconfig {path}: pick one of `kubectl config get-contexts`")]
    UnknownContext { context: String, path: String },
    #[error(
        "cannot reach the API server at {server}: {cause}: check that the cluster is running and the address is right"
    )]
    Unreachable { server: String, cause: String },
    #[error(
        "the API server at {server} rejected kaic's credentials (401 Unauthorized): they may have expired; refresh the kubeconfig (e.g. log in again)"
    )]
    Unauthorized { server: String },
    #[error("the API server at {server} answered {code}: {message}")]
    Refused { server: String, code: u16, message: String },
}

impl Target {
    fn describe(&self) -> String {
        match (&self.kubeconfig, std::env::var("KUBECONFIG")) {
            (Some(path), _) => path.display().to_string(),
            (None, Ok(env)) if !env.is_empty() => format!("KUBECONFIG={env}"),
            (None, _) => "~/.kube/config".to_string(),
        }
    }

    /// Loads the client configuration.
    ///
    /// # Errors
    /// [`ClusterError`] naming the file and what is wrong with it.
    pub async fn config(&self) -> Result<Config, ClusterError> {
        let path = self.describe();
        let kubeconfig = match &self.kubeconfig {
            Some(file) => Kubeconfig::read_from(file),
            None => Kubeconfig::read(),
        };
        let kubeconfig = match kubeconfig {
            Ok(kubeconfig) => kubeconfig,
            Err(KubeconfigError::FindPath) => return in_cluster(path),
            Err(KubeconfigError::ReadConfig(io, _))
                if self.kubeconfig.is_none() && io.kind() == std::io::ErrorKind::NotFound =>
            {
                return in_cluster(path);
            }
            Err(KubeconfigError::ReadConfig(io, _)) => {
                return Err(ClusterError::Unreadable { path, cause: io.to_string() });
            }
            Err(other) => return Err(ClusterError::Invalid { path, cause: first_line(&other.to_string()) }),
        };
        if let Some(context) = &self.context
            && !kubeconfig.contexts.iter().any(|c| &c.name == context)
        {
            return Err(ClusterError::UnknownContext { context: context.clone(), path });
        }
        let options = KubeConfigOptions { context: self.context.clone(), ..Default::default() };
        Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| ClusterError::Invalid { path, cause: e.to_string() })
    }

    /// Connects and proves the server answers by reading its version.
    ///
    /// # Errors
    /// [`ClusterError`] for a bad kubeconfig, an unreachable server or rejected credentials.
    pub async fn connect(&self) -> Result<(Cluster, k8s_openapi::apimachinery::pkg::version::Info), ClusterError> {
        let mut config = self.config().await?;
        // Fail fast on a dead address instead of hanging for the OS default. The read timeout stays as kube
        // sets it: watches are long reads.
        config.connect_timeout = Some(Duration::from_secs(10));
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let client = Client::try_from(config)
            .map_err(|e| ClusterError::Invalid { path: self.describe(), cause: e.to_string() })?;
        let version = client.apiserver_version().await.map_err(|e| classify(&server, e))?;
        Ok((Cluster { client, server }, version))
    }
}

/// Parser errors draw the offending line under the message; the one-line error keeps only the message.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

fn in_cluster(searched: String) -> Result<Config, ClusterError> {
    Config::incluster().map_err(|_| ClusterError::NoConfig { searched })
}

/// Turns a kube error from the first request into the error a person can act on.
fn classify(server: &str, error: kube::Error) -> ClusterError {
    let server = server.to_string();
    match error {
        kube::Error::Api(status) if status.code == 401 => ClusterError::Unauthorized { server },
        kube::Error::Api(status) => ClusterError::Refused { server, code: status.code, message: status.message },
        kube::Error::Auth(cause) => {
            ClusterError::Unreachable { server, cause: format!("authentication failed: {cause}") }
        }
        other => {
            // Show the innermost cause ("Connection refused"), not the wrapper chain.
            let mut cause: &dyn std::error::Error = &other;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            ClusterError::Unreachable { server, cause: cause.to_string() }
        }
    }
}
