//! Autoscaling requirements: `pod_autoscaling` ([`pod_autoscaling`]), a HorizontalPodAutoscaler scaling a
//! Deployment of accelerator pods on a per-pod AI metric served by the custom metrics API, and
//! `cluster_autoscaling` ([`cluster_autoscaling`]), a node autoscaler adding and removing an accelerator node.
//!
//! - [`node_autoscaler`]: Karpenter and cluster-autoscaler, how kaic finds them and reads their events;
//! - [`placement`]: where cluster_autoscaling's pods go so that only the autoscaler can make room;
//! - [`metrics_api`]: which metrics APIs are registered (APIServices), whether they are Available, KEDA,
//!   and the metric kaic scales on, found in the custom metrics API's resource list;
//! - [`hpa`]: the HorizontalPodAutoscaler kaic creates and the judgement of its status;
//! - [`workload`]: the model-server Deployment with one accelerator per pod, its load, and the proof that
//!   each pod holds its device.

pub mod cluster_autoscaling;
pub mod hpa;
pub mod metrics_api;
pub mod node_autoscaler;
pub mod placement;
pub mod pod_autoscaling;
pub mod workload;
