//! `kaic rbac`: prints the ServiceAccount, ClusterRole and ClusterRoleBinding that grant kaic exactly the
//! permissions of its table (`kaic_checks::rbac`), the same ones preflight asks the API server about.

use std::io::Write as _;

use kaic_checks::rbac;

use crate::EXIT_OK;
use crate::cli::{RbacArgs, RbacFormat};

pub fn run(args: &RbacArgs) -> anyhow::Result<u8> {
    let text = match args.output {
        RbacFormat::Yaml => rbac::yaml(&args.namespace, &args.name),
        RbacFormat::Json => serde_json::to_string_pretty(&rbac::json_list(&args.namespace, &args.name))? + "\n",
    };
    // A closed stdout (`kaic rbac | head`) is not an error.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(EXIT_OK)
}
