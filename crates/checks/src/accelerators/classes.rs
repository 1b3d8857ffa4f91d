//! The platform's own DeviceClasses: which one a user would allocate a driver's devices through.
//!
//! kaic allocates through a DeviceClass of its own (selecting every device of the driver), so its
//! verdicts never depend on how a platform named its classes; it also allocates through the platform's
//! class, as a user would, so that a broken vendor class is caught. Which class: among those that are not
//! kaic's and whose selectors name the driver, the one that selects a free device on the chosen node.
//! kaic evaluates the simple selectors vendors ship (`device.driver == '…' &&
//! device.attributes['…'].type == '…'`) against the devices' attributes, so that, for example, NVIDIA's
//! `mig.nvidia.com` is never tried on a node whose free devices are whole GPUs. A selector it cannot
//! evaluate is tried as it is.

use std::collections::BTreeMap;

use k8s_openapi::api::resource::v1::DeviceClass;
use kube::ResourceExt;

use crate::labels;

/// Whether a selector selects a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selects {
    Yes,
    No,
    /// The expression is beyond kaic's evaluator.
    Unknown,
}

/// A platform class chosen for a driver, and why, for evidence and reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformClass {
    pub name: String,
    pub why: String,
    /// Its selectors select none of the devices the driver publishes: allocation through it is expected
    /// to fail, and that is reported.
    pub selects_nothing: bool,
    /// Its CEL selectors (`None`: a selector that is not CEL), to tell which free devices it could get.
    pub selectors: Vec<Option<String>>,
}

impl PlatformClass {
    /// Whether the class may select a device of `driver` with `attributes`: it does, or kaic cannot tell.
    /// Only such devices count as "free for it" when its pod is not scheduled.
    pub fn may_select(&self, driver: &str, attributes: &BTreeMap<String, String>) -> bool {
        selectors_select(self.selectors.iter().map(Option::as_deref), driver, attributes) != Selects::No
    }
}

/// Evaluates a CEL selector for a device of `driver` with `attributes` (names as the ResourceSlice gives
/// them: unqualified for the driver's own domain, `domain/name` otherwise; values as text).
pub fn evaluate(expression: &str, driver: &str, attributes: &BTreeMap<String, String>) -> Selects {
    if expression.contains("||") || expression.contains('?') {
        return Selects::Unknown;
    }
    let mut result = Selects::Yes;
    for term in expression.split("&&") {
        match term_selects(strip_parens(term.trim()), driver, attributes) {
            Selects::No => return Selects::No,
            Selects::Unknown => result = Selects::Unknown,
            Selects::Yes => {}
        }
    }
    result
}

fn strip_parens(mut term: &str) -> &str {
    while let Some(inner) = term.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        term = inner.trim();
    }
    term
}

/// One `left == right` or `left != right` term.
fn term_selects(term: &str, driver: &str, attributes: &BTreeMap<String, String>) -> Selects {
    let (left, right, equal) = if let Some((l, r)) = term.split_once("==") {
        (l.trim(), r.trim(), true)
    } else if let Some((l, r)) = term.split_once("!=") {
        (l.trim(), r.trim(), false)
    } else {
        return Selects::Unknown;
    };
    let Some(wanted) = literal(right) else { return Selects::Unknown };
    let actual = if left == "device.driver" {
        Some(driver.to_string())
    } else if let Some((domain, name)) = attribute_path(left) {
        let qualified = format!("{domain}/{name}");
        let own = (domain == driver).then(|| attributes.get(name)).flatten();
        match own.or_else(|| attributes.get(&qualified)) {
            Some(value) => Some(value.clone()),
            // A missing attribute is a runtime error in CEL: the device is not selected.
            None => return Selects::No,
        }
    } else {
        None
    };
    match actual {
        Some(actual) if (actual == wanted) == equal => Selects::Yes,
        Some(_) => Selects::No,
        None => Selects::Unknown,
    }
}

/// `device.attributes['domain'].name` (either quote style) → (domain, name).
fn attribute_path(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("device.attributes[")?;
    let (domain, name) = rest.split_once("].")?;
    let domain = unquote(domain.trim())?;
    let name = name.trim();
    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-').then_some((domain, name))
}

/// A string, boolean or integer literal, as the attribute's text would read.
fn literal(text: &str) -> Option<String> {
    if let Some(s) = unquote(text) {
        return Some(s.to_string());
    }
    (text == "true" || text == "false" || text.parse::<i64>().is_ok()).then(|| text.to_string())
}

fn unquote(text: &str) -> Option<&str> {
    ['\'', '"'].into_iter().find_map(|q| text.strip_prefix(q).and_then(|t| t.strip_suffix(q)))
}

/// Whether every selector of `class` selects the device (selectors are ANDed; no selector selects all).
pub fn class_selects(class: &DeviceClass, driver: &str, attributes: &BTreeMap<String, String>) -> Selects {
    selectors_select(cel_selectors(class).iter().map(Option::as_deref), driver, attributes)
}

/// The class's selectors as CEL expressions (`None` for a selector of another kind).
fn cel_selectors(class: &DeviceClass) -> Vec<Option<String>> {
    class
        .spec
        .iter()
        .flat_map(|s| s.selectors.iter().flatten())
        .map(|s| s.cel.as_ref().map(|c| c.expression.clone()))
        .collect()
}

/// ANDs selectors over a device; a selector kaic cannot read makes the answer unknown unless another says no.
fn selectors_select<'a>(
    selectors: impl Iterator<Item = Option<&'a str>>,
    driver: &str,
    attributes: &BTreeMap<String, String>,
) -> Selects {
    let mut result = Selects::Yes;
    for selector in selectors {
        match selector.map_or(Selects::Unknown, |cel| evaluate(cel, driver, attributes)) {
            Selects::No => return Selects::No,
            Selects::Unknown => result = Selects::Unknown,
            Selects::Yes => {}
        }
    }
    result
}

/// Whether `class` is the platform's (not created by kaic) and is about `driver`: named after it, or a
/// selector names it.
fn about_driver(class: &DeviceClass, driver: &str) -> bool {
    let ours = class.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE);
    let named = class.name_any() == driver;
    let mentioned =
        class.spec.iter().flat_map(|s| s.selectors.iter().flatten()).filter_map(|s| s.cel.as_ref()).any(|cel| {
            cel.expression.contains(&format!("'{driver}'")) || cel.expression.contains(&format!("\"{driver}\""))
        });
    !ours && (named || mentioned)
}

/// Chooses the platform class to allocate one device of `driver` through, given the attributes of the
/// driver's free devices on the chosen node and of all devices it publishes. `None`: the platform has no
/// class for the driver, or only classes for other kinds of its devices.
pub fn choose(
    classes: &[DeviceClass],
    driver: &str,
    free_here: &[&BTreeMap<String, String>],
    all: &[&BTreeMap<String, String>],
) -> Option<PlatformClass> {
    let mut candidates: Vec<&DeviceClass> = classes.iter().filter(|c| about_driver(c, driver)).collect();
    // The class named after the driver is the vendor's main class by convention.
    candidates.sort_by_key(|c| (c.name_any() != driver, c.name_any()));
    let on_free = |c: &DeviceClass, wanted: Selects| free_here.iter().any(|a| class_selects(c, driver, a) == wanted);
    if let Some(class) = candidates.iter().find(|c| on_free(c, Selects::Yes)) {
        return Some(PlatformClass {
            name: class.name_any(),
            why: format!("the platform's DeviceClass {} selects the free {driver} devices there", class.name_any()),
            selects_nothing: false,
            selectors: cel_selectors(class),
        });
    }
    if let Some(class) = candidates.iter().find(|c| on_free(c, Selects::Unknown)) {
        return Some(PlatformClass {
            name: class.name_any(),
            why: format!(
                "the platform's DeviceClass {} names {driver}; kaic cannot evaluate its selector, so it is tried",
                class.name_any()
            ),
            selects_nothing: false,
            selectors: cel_selectors(class),
        });
    }
    // No class of the platform can allocate any device the driver publishes: a user could not use them.
    let selects_none = |c: &&&DeviceClass| all.iter().all(|a| class_selects(c, driver, a) == Selects::No);
    if !all.is_empty() && candidates.iter().all(|c| selects_none(&c)) {
        let class = candidates.first()?;
        return Some(PlatformClass {
            name: class.name_any(),
            why: format!(
                "the platform's DeviceClass {} selects none of the {} devices {driver} publishes",
                class.name_any(),
                all.len()
            ),
            selects_nothing: true,
            selectors: cel_selectors(class),
        });
    }
    None
}

/// A sentence for reasons when no platform class was used.
pub fn none_note(classes: &[DeviceClass], driver: &str) -> String {
    let named: Vec<String> = classes.iter().filter(|c| about_driver(c, driver)).map(|c| c.name_any()).collect();
    if named.is_empty() {
        format!("the platform has no DeviceClass of its own for {driver}; only kaic's class was used")
    } else {
        format!(
            "the platform's DeviceClasses for {driver} ({}) select other kinds of its devices than the free ones; only kaic's class was used",
            named.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NVIDIA: &str = "gpu.nvidia.com";

    fn class(name: &str, expression: &str) -> DeviceClass {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"selectors": [{"cel": {"expression": expression}}]}
        }))
        .unwrap()
    }

    /// The classes NVIDIA's DRA driver installs.
    fn nvidia_classes() -> Vec<DeviceClass> {
        vec![
            class(
                "gpu.nvidia.com",
                "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'",
            ),
            class(
                "mig.nvidia.com",
                "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'mig'",
            ),
            class(
                "compute-domain-daemon.nvidia.com",
                "device.driver == 'compute-domain.nvidia.com' && device.attributes['compute-domain.nvidia.com'].type == 'daemon'",
            ),
        ]
    }

    fn device(kind: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("type".to_string(), kind.to_string()), ("index".to_string(), "0".to_string())])
    }

    #[test]
    fn evaluates_the_selectors_vendors_ship() {
        let gpu = device("gpu");
        let selector = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'";
        assert_eq!(evaluate(selector, NVIDIA, &gpu), Selects::Yes);
        assert_eq!(evaluate(selector, NVIDIA, &device("mig")), Selects::No);
        assert_eq!(evaluate(selector, "gpu.amd.com", &gpu), Selects::No);
        assert_eq!(evaluate(r#"device.attributes["gpu.nvidia.com"].index == 0"#, NVIDIA, &gpu), Selects::Yes);
        assert_eq!(evaluate("(device.attributes['gpu.nvidia.com'].type != 'mig')", NVIDIA, &gpu), Selects::Yes);
        // Missing attribute: a CEL runtime error, the device is not selected.
        assert_eq!(evaluate("device.attributes['gpu.nvidia.com'].brand == 'Nvidia'", NVIDIA, &gpu), Selects::No);
        let pcie = BTreeMap::from([("resource.kubernetes.io/pcieRoot".to_string(), "pci0000:10".to_string())]);
        assert_eq!(
            evaluate("device.attributes['resource.kubernetes.io'].pcieRoot == 'pci0000:10'", NVIDIA, &pcie),
            Selects::Yes
        );
        for beyond in [
            "device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA')",
            "device.driver == 'a' || device.driver == 'b'",
            "device.capacity['gpu.nvidia.com'].memory.compareTo(quantity('40Gi')) >= 0",
        ] {
            assert_eq!(evaluate(beyond, NVIDIA, &gpu), Selects::Unknown, "{beyond}");
        }
    }

    #[test]
    fn chooses_the_class_that_selects_the_free_devices() {
        let classes = nvidia_classes();
        let (gpu, mig) = (device("gpu"), device("mig"));
        let chosen = choose(&classes, NVIDIA, &[&gpu], &[&gpu, &mig]).unwrap();
        assert_eq!(chosen.name, "gpu.nvidia.com");
        assert!(!chosen.selects_nothing);
        // A node whose free devices are MIG instances: the MIG class, not the GPU class.
        assert_eq!(choose(&classes, NVIDIA, &[&mig], &[&gpu, &mig]).unwrap().name, "mig.nvidia.com");
    }

    #[test]
    fn kaic_classes_and_other_drivers_classes_are_never_chosen() {
        let mut ours = class("kaic-secure-x", "device.driver == 'gpu.nvidia.com'");
        ours.metadata.labels = Some(BTreeMap::from([(labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into())]));
        let gpu = device("gpu");
        assert_eq!(choose(&[ours.clone()], NVIDIA, &[&gpu], &[&gpu]), None);
        assert!(none_note(&[ours], NVIDIA).contains("no DeviceClass of its own for gpu.nvidia.com"));
        let amd = class("gpu.amd.com", "device.driver == 'gpu.amd.com'");
        assert_eq!(choose(&[amd], NVIDIA, &[&gpu], &[&gpu]), None);
    }

    #[test]
    fn a_class_that_selects_nothing_the_driver_publishes_is_chosen_to_be_caught() {
        let broken = class(
            "gpu.nvidia.com",
            "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpuu'",
        );
        let gpu = device("gpu");
        let chosen = choose(&[broken], NVIDIA, &[&gpu], &[&gpu, &gpu]).unwrap();
        assert!(chosen.selects_nothing);
        assert!(chosen.why.contains("selects none of the 2 devices gpu.nvidia.com publishes"), "{}", chosen.why);
        // A class for other devices of the driver (present elsewhere) is not a broken class.
        let classes = nvidia_classes();
        let mig = device("mig");
        assert_eq!(choose(&classes[1..2], NVIDIA, &[&gpu], &[&gpu, &mig]), None);
        assert!(none_note(&classes, NVIDIA).contains("select other kinds"));
    }

    /// On a mixed node the GPU class may not take a MIG device: only devices it may select count as free
    /// for it.
    #[test]
    fn a_chosen_class_says_which_devices_it_may_select() {
        let classes = nvidia_classes();
        let (gpu, mig) = (device("gpu"), device("mig"));
        let chosen = choose(&classes, NVIDIA, &[&gpu, &mig], &[&gpu, &mig]).unwrap();
        assert_eq!(chosen.name, "gpu.nvidia.com");
        assert!(chosen.may_select(NVIDIA, &gpu));
        assert!(!chosen.may_select(NVIDIA, &mig));
        let fancy = class("gpu.nvidia.com", "device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA')");
        let chosen = choose(&[fancy], NVIDIA, &[&mig], &[&mig]).unwrap();
        assert!(chosen.may_select(NVIDIA, &mig), "kaic cannot tell: counted");
    }

    #[test]
    fn a_class_kaic_cannot_evaluate_is_tried() {
        let fancy = class(
            "gpu.nvidia.com",
            "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].productName.startsWith('NVIDIA')",
        );
        let gpu = device("gpu");
        let chosen = choose(&[fancy], NVIDIA, &[&gpu], &[&gpu]).unwrap();
        assert!(chosen.why.contains("cannot evaluate"), "{}", chosen.why);
    }
}
