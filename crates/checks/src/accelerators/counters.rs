//! Shared counters of partitionable DRA devices (`sharedCounters` in a pool, `consumesCounters` on each
//! device): a device no claim was allocated can still be out of reach, because allocated devices used up
//! the counters it needs — a MIG partition of a GPU that was allocated whole, or the whole GPU once one of
//! its partitions is allocated. The scheduler does this arithmetic before it allocates; kaic repeats it, so
//! that a device it counts as free is one the scheduler could allocate.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::resource::v1::ResourceSlice;

use crate::capacity::milli;

/// A DRA device: (driver, pool, device).
pub type DeviceKey = (String, String, String);

/// A counter set of a pool: (driver, pool, counter set).
type SetKey = (String, String, String);

/// The devices of `slices` that are not `allocated` but cannot be allocated now, because the allocated
/// devices consumed counters they need. Counter sets live in any slice of the device's pool; where a
/// counter an allocated device consumed has no published capacity, any other device consuming that counter
/// is counted out (kaic cannot show it fits, and counting it free could blame a platform class for a device
/// nobody could allocate).
pub fn exhausted(slices: &[ResourceSlice], allocated: &BTreeSet<DeviceKey>) -> BTreeSet<DeviceKey> {
    let mut capacity: BTreeMap<SetKey, BTreeMap<String, i128>> = BTreeMap::new();
    let mut consumes: BTreeMap<DeviceKey, Vec<(SetKey, String, i128)>> = BTreeMap::new();
    for slice in slices {
        let (driver, pool) = (&slice.spec.driver, &slice.spec.pool.name);
        for set in slice.spec.shared_counters.iter().flatten() {
            let counters = capacity.entry((driver.clone(), pool.clone(), set.name.clone())).or_default();
            for (name, counter) in &set.counters {
                counters.insert(name.clone(), milli(&counter.value.0).unwrap_or(0));
            }
        }
        for device in slice.spec.devices.iter().flatten() {
            let key = (driver.clone(), pool.clone(), device.name.clone());
            for consumption in device.consumes_counters.iter().flatten() {
                let set = (driver.clone(), pool.clone(), consumption.counter_set.clone());
                for (name, counter) in &consumption.counters {
                    let amount = milli(&counter.value.0).unwrap_or(0);
                    consumes.entry(key.clone()).or_default().push((set.clone(), name.clone(), amount));
                }
            }
        }
    }
    let mut used: BTreeMap<(SetKey, String), i128> = BTreeMap::new();
    for (device, needs) in &consumes {
        if allocated.contains(device) {
            for (set, counter, amount) in needs {
                *used.entry((set.clone(), counter.clone())).or_default() += amount;
            }
        }
    }
    consumes
        .iter()
        .filter(|(device, _)| !allocated.contains(*device))
        .filter(|(_, needs)| {
            needs.iter().any(|(set, counter, amount)| {
                let taken = used.get(&(set.clone(), counter.clone())).copied().unwrap_or(0);
                match capacity.get(set).and_then(|c| c.get(counter)) {
                    Some(total) => taken + amount > *total,
                    None => taken > 0,
                }
            })
        })
        .map(|(device, _)| device.clone())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A node's GPU published the way NVIDIA's DRA driver does with partitionable devices: the whole GPU
    /// and two 1g partitions consume one counter set (memory slices); another full GPU consumes nothing.
    pub fn partitionable_slice(node: &str) -> ResourceSlice {
        let slices = |from: u32, to: u32| -> serde_json::Value {
            serde_json::Value::Object(
                (from..to).map(|i| (format!("memory-slice-{i}"), json!({"value": "1"}))).collect(),
            )
        };
        serde_json::from_value(json!({
            "metadata": {"name": format!("{node}-partitionable")},
            "spec": {
                "driver": "gpu.nvidia.com", "nodeName": node,
                "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                "sharedCounters": [{"name": "gpu-0-counters", "counters": slices(0, 8)}],
                "devices": [
                    {"name": "gpu-0", "attributes": {"type": {"string": "gpu"}},
                     "consumesCounters": [{"counterSet": "gpu-0-counters", "counters": slices(0, 8)}]},
                    {"name": "gpu-0-mig-1g-0", "attributes": {"type": {"string": "mig"}},
                     "consumesCounters": [{"counterSet": "gpu-0-counters", "counters": slices(0, 1)}]},
                    {"name": "gpu-0-mig-1g-1", "attributes": {"type": {"string": "mig"}},
                     "consumesCounters": [{"counterSet": "gpu-0-counters", "counters": slices(1, 2)}]},
                    {"name": "gpu-1", "attributes": {"type": {"string": "gpu"}}}
                ]
            }
        }))
        .unwrap()
    }

    fn key(node: &str, device: &str) -> DeviceKey {
        ("gpu.nvidia.com".into(), node.into(), device.into())
    }

    #[test]
    fn a_whole_gpu_allocated_takes_its_partitions_and_a_partition_takes_the_whole_gpu() {
        let slices = [partitionable_slice("n")];
        assert!(exhausted(&slices, &BTreeSet::new()).is_empty());
        let whole = exhausted(&slices, &BTreeSet::from([key("n", "gpu-0")]));
        assert_eq!(whole, BTreeSet::from([key("n", "gpu-0-mig-1g-0"), key("n", "gpu-0-mig-1g-1")]));
        // One partition allocated: the whole GPU no longer fits, the other partition still does.
        let part = exhausted(&slices, &BTreeSet::from([key("n", "gpu-0-mig-1g-0")]));
        assert_eq!(part, BTreeSet::from([key("n", "gpu-0")]));
        // Devices consuming no counters are never affected.
        assert!(!whole.contains(&key("n", "gpu-1")));
    }

    #[test]
    fn an_unpublished_counter_counts_its_consumers_out_once_one_is_allocated() {
        let mut slice = partitionable_slice("n");
        slice.spec.shared_counters = None;
        assert!(exhausted(std::slice::from_ref(&slice), &BTreeSet::new()).is_empty());
        // memory-slice-1 is taken: the whole GPU needs it, the other partition does not.
        let taken = exhausted(&[slice], &BTreeSet::from([key("n", "gpu-0-mig-1g-1")]));
        assert_eq!(taken, BTreeSet::from([key("n", "gpu-0")]));
    }
}
