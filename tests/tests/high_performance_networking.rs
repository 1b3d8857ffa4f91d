//! `high_performance_networking` end to end on testenv, whose simulated driver publishes DRANET-shaped NICs
//! (`dra.net`, two per GPU node) where a profile asks for them (testenv/cmd/kaic-testenv/netdev.go):
//! - on `default` a pod claiming a NIC sees its interface (name and MAC as published), a pod without a claim
//!   does not, and a pod claiming one on a node without NICs is refused by the scheduler; a pod on the other GPU
//!   node claiming the NIC of the same rail fetches 4 MiB from the first pod's NIC address, and the bytes arrive
//!   over its own NIC (podrun gives each pod a real interface on the profile's fabric); one claim for a GPU and
//!   a NIC with `matchAttribute: resource.kubernetes.io/pcieRoot` gets a pair behind one root (each NIC shares
//!   its root with two GPUs): pass;
//! - on `nic-not-attached` the NIC is allocated but never reaches the pod: fail, listing what the pod saw;
//! - on `nic-no-link` the pod gets its NIC's interface, but the NIC has no link: fail, naming it;
//! - on `no-gang` no driver publishes network devices: not applicable (the requirement's "if").

use kaic_e2e::{cluster, run_kaic};

const FOCUS: &[&str] = &["--focus", "high_performance_networking", "--conformance-version", "1.37"];

#[test]
fn a_claimed_nic_reaches_its_pod_only() {
    let run = run_kaic(&cluster("default"), FOCUS);
    let check = run.check("high_performance_networking");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("4 network device(s) published; pod nic-holder claimed gpu-node-"), "{reason}");
    assert!(reason.contains("(dra.net) ifName=ens"), "{reason}");
    assert!(reason.contains("rdma=true mtu=9000"), "{reason}");
    assert!(reason.contains("a pod without a claim does not"), "{reason}");
    assert!(reason.contains("(none there) was refused: 0/"), "{reason}");
    assert!(reason.contains("cannot allocate all claims"), "{reason}");
    // Rail 0 or 1 (whichever NIC the holder got), the other GPU node's NIC of the same rail.
    assert!(reason.contains("pod nic-client fetched 4194304 bytes from 172.2"), "{reason}");
    assert!(reason.contains(" over its NIC ens"), "{reason}");
    // The holder keeps its NIC, so the aligned claim gets the other NIC of a node and a GPU behind its root.
    assert!(
        reason.contains(
            "pod nic-aligned claimed an accelerator and a NIC with matchAttribute resource.kubernetes.io/pcieRoot and got gpu-"
        ),
        "{reason}"
    );
    assert!(reason.contains(" (gpu.nvidia.com) and nic-"), "{reason}");
}

#[test]
fn a_nic_allocated_but_not_attached_fails() {
    let run = run_kaic(&cluster("nic-not-attached"), FOCUS);
    let check = run.check("high_performance_networking");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    assert_eq!(check["reason"], "a pod that was allocated a NIC does not see it");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.starts_with("its interfaces: eth0 "), "{observed}");
    assert!(observed.contains("lo 00:00:00:00:00:00 127.0.0.1/8"), "{observed}");
    assert!(!observed.contains("ens"), "{observed}");
}

#[test]
fn a_nic_without_a_link_fails() {
    let run = run_kaic(&cluster("nic-no-link"), FOCUS);
    let check = run.check("high_performance_networking");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    assert_eq!(check["reason"], "a claimed NIC has no link");
    assert_eq!(check["expected"], "the NIC pod nic-holder claimed has a link, so that data can cross it");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.starts_with("ens") && observed.ends_with("has no carrier"), "{observed}");
}

#[test]
fn no_network_devices_is_not_applicable() {
    let run = run_kaic(&cluster("no-gang"), FOCUS);
    let check = run.check("high_performance_networking");
    assert_eq!(check["outcome"], "not_applicable", "{check:#}\nstderr:\n{}", run.stderr());
    assert!(check["reason"].as_str().unwrap().starts_with("no specialised network devices"), "{check:#}");
}
