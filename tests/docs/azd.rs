//! `azure.yaml` (the `azd up` path, Flex Consumption only) agrees with the rest of the repository:
//! the package it deploys is the one scripts/package.sh writes, the app it deploys to and the
//! identity it grants roles to are outputs of infra/main.bicep, and every script a hook runs
//! exists. azd itself cannot run here; its schema check was done once by hand (see the report of
//! issue 13), the file's shape is kept simple enough to read line by line.

use crate::{read, root};

/// `key: value` lines of azure.yaml at any depth, comments dropped.
fn entries(yaml: &str) -> Vec<(String, String)> {
    yaml.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn value<'a>(entries: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn azure_yaml_deploys_the_package_script_zip_to_an_app_the_template_outputs() {
    let yaml = read(&root().join("azure.yaml"));
    let e = entries(&yaml);
    assert_eq!(
        value(&e, "language"),
        ["custom"],
        "a prebuilt package is azd's custom language"
    );
    assert_eq!(value(&e, "host"), ["function"]);
    assert_eq!(value(&e, "path"), ["infra"]);
    assert_eq!(value(&e, "module"), ["main"]);
    let dist = value(&e, "dist");
    assert_eq!(dist, ["dist/defender-misp.zip"]);
    assert!(read(&root().join("scripts/package.sh")).contains("zip=\"$dist/$BINARY.zip\""));
    assert!(read(&root().join("scripts/package.sh")).contains("readonly BINARY=\"defender-misp\""));

    let main = read(&root().join("infra/main.bicep"));
    let outputs: Vec<&str> = main
        .lines()
        .filter_map(|l| l.strip_prefix("output ")?.split_whitespace().next())
        .collect();
    for (key, used) in [
        ("resourceName", "functionAppName"),
        ("run", "principalId"),
        ("run", "hostingPlan"),
    ] {
        assert!(
            outputs.contains(&used),
            "infra/main.bicep has no output {used}"
        );
        assert!(
            value(&e, key).iter().any(|v| v.contains(used)),
            "azure.yaml does not use the output {used} in a `{key}`"
        );
    }
    for run in value(&e, "run") {
        let words = run
            .split_whitespace()
            .map(|w| w.trim_matches(|c: char| "\"';&|".contains(c)));
        for script in words.filter(|w| w.starts_with("infra/") || w.starts_with("scripts/")) {
            assert!(
                root().join(script).is_file(),
                "azure.yaml runs {script}, which does not exist"
            );
        }
    }
    assert!(
        read(&root().join(".gitignore"))
            .lines()
            .any(|l| l == "/.azure"),
        "azd keeps the prompted MISP key in .azure/: it must stay out of git"
    );
}
