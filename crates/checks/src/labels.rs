//! The labels kaic puts on everything it creates. Cleanup selects by these and by nothing else, so kaic
//! never deletes an object it did not create.

use std::collections::BTreeMap;

/// Marks an object as created by kaic.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "kaic";
/// The run that created the object.
pub const RUN_ID: &str = "kaic.dev/run-id";
/// The check that created the object.
pub const CHECK: &str = "kaic.dev/check";

/// The selector matching everything any kaic run created.
pub fn all_runs_selector() -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// The selector matching everything one run created.
pub fn run_selector(run_id: &str) -> String {
    format!("{MANAGED_BY}={MANAGED_BY_VALUE},{RUN_ID}={run_id}")
}

/// The labels for an object a check creates.
pub fn for_check(run_id: &str, check_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_ID.to_string(), run_id.to_string()),
        // Label values may not contain '_'; check ids do.
        (CHECK.to_string(), check_id.replace('_', "-")),
    ])
}

/// A namespace name for a check in a run: `kaic-<check>-<run>`, within the 63-character limit.
pub fn namespace_name(run_id: &str, check_id: &str) -> String {
    let mut name = format!("kaic-{}-{}", check_id.replace('_', "-"), run_id);
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// A fresh run id: short, lowercase, valid in names and label values.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_valid_dns_labels() {
        let name = namespace_name("ab12cd34", "secure_accelerator_access");
        assert_eq!(name, "kaic-secure-accelerator-access-ab12cd34");
        let long = namespace_name("ab12cd34", &"x_".repeat(40));
        assert!(long.len() <= 63 && !long.ends_with('-'));
    }

    #[test]
    fn labels_name_run_and_check() {
        let labels = for_check("r1", "dra_support");
        assert_eq!(labels[CHECK], "dra-support");
        assert_eq!(run_selector("r1"), "app.kubernetes.io/managed-by=kaic,kaic.dev/run-id=r1");
        assert_eq!(new_run_id().len(), 8);
    }
}
