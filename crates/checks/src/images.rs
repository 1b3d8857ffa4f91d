//! Every image kaic's checks run, in one table: the `--probe-image` keys, their public defaults (pinned by tag)
//! and which check uses each. `kaic images` prints it for mirroring into an air-gapped registry, the command
//! line accepts exactly these keys, and `--image-registry HOST` moves every default to a mirror
//! ([`with_registry`]); an image given with `--probe-image` or `--pause-image` is used as given.

use crate::accelerators::vendor::VENDORS;

/// The key of the pause image (`--pause-image`), listed with the probe images.
pub const PAUSE_KEY: &str = "pause";
/// The pause image: pods that only need to exist.
pub const DEFAULT_PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

/// One image kaic may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The `--probe-image` key (`pause` for `--pause-image`).
    pub key: &'static str,
    /// The public default, pinned by tag; `None` where kaic has no default (a vendor without a known load).
    pub default: Option<&'static str>,
    /// Which checks run it, and what it must provide where a mirror replaces it.
    pub used_by: &'static str,
}

/// Every image, in a stable order: the pause image, the vendors' probes, then the checks' own images.
pub fn all() -> Vec<Image> {
    use crate::inference::{pd, pool, scored_pool, traffic};
    use crate::networking::high_performance_networking as networking;
    use crate::observability::{load, model_server};
    use crate::security::workload_sandboxing as sandboxing;
    let mut images = vec![Image {
        key: PAUSE_KEY,
        default: Some(DEFAULT_PAUSE_IMAGE),
        used_by: "pods that only need to exist (gang_scheduling, robust_controller, dra_support, cluster_autoscaling)",
    }];
    images.extend(VENDORS.iter().map(|v| Image {
        key: v.probe_label,
        default: Some(v.probe_image),
        used_by: "accelerator probes (dra_support, secure_accelerator_access, driver_runtime_management, \
                  gpu_sharing, virtualized_accelerator): a POSIX shell, and the vendor's tool where it has one",
    }));
    images.extend([
        Image {
            key: sandboxing::PROBE_IMAGE_KEY,
            default: Some(sandboxing::DEFAULT_PROBE_IMAGE),
            used_by: "workload_sandboxing's probe: any image with a POSIX shell",
        },
        Image {
            key: load::LOAD_IMAGE_KEY,
            default: Some(load::NVIDIA_LOAD_IMAGE),
            used_by: "accelerator_metrics' load on one device (NVIDIA: DCGM's image running dcgmproftester12; \
                      another vendor: an image whose entrypoint keeps one device busy)",
        },
        Image {
            key: model_server::IMAGE_KEY,
            default: Some(model_server::DEFAULT_IMAGE),
            used_by: "model servers of ai_service_metrics, pod_autoscaling, ai_inference, advanced_inference_ingress \
                      and disaggregated_inference (llm-d's vLLM simulator, or any server with its flags)",
        },
        Image {
            key: traffic::CLIENT_IMAGE_KEY,
            default: Some(traffic::DEFAULT_CLIENT_IMAGE),
            used_by: "in-cluster HTTP clients of the inference checks (sh and curl >= 7.84)",
        },
        Image {
            key: pool::PICKER_IMAGE_KEY,
            default: Some(pool::DEFAULT_PICKER_IMAGE),
            used_by: "advanced_inference_ingress' lightweight endpoint picker",
        },
        Image {
            key: scored_pool::SCORER_IMAGE_KEY,
            default: Some(scored_pool::DEFAULT_SCORER_IMAGE),
            used_by: "advanced_inference_ingress' full endpoint picker (queue and KV-cache scorers)",
        },
        Image {
            key: pd::SIDECAR_IMAGE_KEY,
            default: Some(pd::DEFAULT_SIDECAR_IMAGE),
            used_by: "disaggregated_inference's decode pods (llm-d's P/D routing sidecar)",
        },
        Image {
            key: networking::IMAGE_KEY,
            default: Some(networking::DEFAULT_IMAGE),
            used_by: "high_performance_networking's probes (busybox's sh, ip, httpd and wget)",
        },
    ]);
    images
}

/// The keys `--probe-image` accepts (every key but the pause image's, which has its own flag).
pub fn probe_image_keys() -> Vec<&'static str> {
    // Keys are unique in the table (a unit test holds it to that).
    all().into_iter().map(|i| i.key).filter(|k| *k != PAUSE_KEY).collect()
}

/// `image` moved to the mirror `registry` (a host, optionally with a path: `mirror.example:5000/kaic`): its
/// registry host is replaced, its repository path and tag kept, as `crane copy` or `skopeo sync` mirror them.
/// An image without a registry host (`busybox:1.37`) is Docker Hub's, so `library/` is kept where implied.
pub fn with_registry(image: &str, registry: &str) -> String {
    let registry = registry.trim_end_matches('/');
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    let path = if is_host {
        rest.to_string()
    } else if first.is_empty() {
        format!("library/{rest}")
    } else {
        image.to_string()
    };
    format!("{registry}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_with_a_pinned_public_default() {
        let images = all();
        let mut keys: Vec<&str> = images.iter().map(|i| i.key).collect();
        // The vendors' probes may share a default image, never a key.
        let before = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), before, "duplicate keys: {images:?}");
        for image in &images {
            let default = image.default.expect("every image has a default");
            let (_, tag) = default.rsplit_once(':').unwrap_or_else(|| panic!("{default} has a tag"));
            assert!(!tag.is_empty() && tag != "latest" && !tag.contains('/'), "{default} is pinned by tag");
            let host = default.split('/').next().unwrap();
            assert!(host.contains('.'), "{default} names its registry");
        }
        for key in ["routing-sidecar", "endpoint-picker", "scoring-endpoint-picker", "netdev", "http-client"] {
            assert!(probe_image_keys().contains(&key), "{key} is accepted by --probe-image");
        }
        assert!(!probe_image_keys().contains(&PAUSE_KEY), "the pause image has its own flag");
    }

    #[test]
    fn a_mirror_replaces_the_registry_host_and_keeps_the_path() {
        let mirror = "mirror.example:5000/kaic/";
        assert_eq!(
            with_registry("nvcr.io/nvidia/cuda:12.6.3-base-ubuntu24.04", mirror),
            "mirror.example:5000/kaic/nvidia/cuda:12.6.3-base-ubuntu24.04"
        );
        assert_eq!(with_registry("registry.k8s.io/pause:3.10", "m.example"), "m.example/pause:3.10");
        assert_eq!(with_registry("docker.io/library/busybox:1.37", "m.example"), "m.example/library/busybox:1.37");
        assert_eq!(with_registry("busybox:1.37", "m.example"), "m.example/library/busybox:1.37");
        assert_eq!(with_registry("curlimages/curl:8.17.0", "m.example"), "m.example/curlimages/curl:8.17.0");
        assert_eq!(with_registry("localhost/x:1", "m.example"), "m.example/x:1");
    }
}
