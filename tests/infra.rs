//! Offline checks of what is deployed beside the binary: the Bicep under `infra/` parses, and the
//! Functions files (`host.json`, `*/function.json`, `local.settings.json`) agree with the routes,
//! binding names and settings the handler actually uses. No Bicep compiler or Functions host can
//! run here, so this is what stands between a typo and a failed deployment.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use defender_misp::server::{DEADLETTER_OUTPUT, EVENTS_BINDING, MATCHES_OUTPUT};
use defender_misp::settings::vars;
use serde_json::Value;

/// The executable `host.json` starts (the `[[bin]]` in Cargo.toml, at the package root).
const BINARY: &str = "defender-misp";
/// Trigger binding name of `RaiseAlerts`.
const MATCH_BINDING: &str = "match";
/// The queue between the two functions.
const MATCH_QUEUE: &str = "misp-matches";
/// Settings the Functions host sets for the handler, or the host's own storage connection that
/// `replay --enqueue` reads the way the host does (checked with the bindings below).
const HOST_PROVIDED: &[&str] = &[
    "FUNCTIONS_CUSTOMHANDLER_PORT",
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
];
/// Routes whose function folder is written on another branch; tolerated only while absent.
const FOLDER_PENDING: &[&str] = &["RaiseAlerts"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn files_with_extension(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_with_extension(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn bicep_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_with_extension(&root().join("infra"), "bicep", &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("infra/main.bicep")),
        "infra/main.bicep is missing"
    );
    files
}

/// Every ERROR and MISSING node of a tree, as `line:col: what`.
fn syntax_errors(source: &str) -> Vec<String> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_bicep::LANGUAGE.into())
        .expect("the bicep grammar loads");
    let tree = parser
        .parse(source, None)
        .expect("the parser returns a tree");
    let mut errors = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if node.is_error() || node.is_missing() {
            let at = node.start_position();
            let text: String = source[node.byte_range()].chars().take(60).collect();
            let what = if node.is_missing() {
                format!("missing {}", node.kind())
            } else {
                format!("unexpected `{}`", text.trim())
            };
            errors.push(format!("{}:{}: {what}", at.row + 1, at.column + 1));
        }
        if node.has_error() {
            let mut cursor = node.walk();
            stack.extend(node.children(&mut cursor));
        }
    }
    errors.sort();
    errors
}

#[test]
fn every_bicep_file_parses_without_syntax_errors() {
    let mut failures = Vec::new();
    for file in bicep_files() {
        let relative = file.strip_prefix(root()).unwrap().display().to_string();
        for error in syntax_errors(&read(&file)) {
            failures.push(format!("{relative}:{error}"));
        }
    }
    assert!(
        failures.is_empty(),
        "Bicep syntax errors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_syntax_check_reports_a_broken_file_with_its_position() {
    let errors = syntax_errors("param a string\nvar b = {\n  name: 'x'\n  size: )\n}\n");
    assert!(
        errors.iter().any(|e| e.starts_with("4:")),
        "expected an error on line 4, got {errors:?}"
    );
    assert!(syntax_errors("param a string\nvar b = {\n  name: 'x'\n}\n").is_empty());
    // The spread operator is valid Bicep but this grammar rejects it, so the infra avoids it.
    assert!(!syntax_errors("var a = {\n  ...b\n}\n").is_empty());
}

/// `POST` routes of `src/server/mod.rs`: `.route("/Name", post(`.
fn post_routes() -> BTreeSet<String> {
    let server = read(&root().join("src/server/mod.rs"));
    let routes: BTreeSet<String> = server
        .split(".route(\"/")
        .skip(1)
        .filter_map(|rest| {
            let (name, after) = rest.split_once('"')?;
            after
                .trim_start_matches([',', ' ', '\n'])
                .starts_with("post(")
                .then(|| name.to_owned())
        })
        .collect();
    assert!(
        server.contains(".route(\"/\", get("),
        "the host's readiness probe GET / must be served"
    );
    routes
}

/// Folders at the repository root holding a `function.json`.
fn function_folders() -> BTreeMap<String, Value> {
    fs::read_dir(root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("function.json").is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, json(&p.join("function.json")))
        })
        .collect()
}

#[test]
fn function_folders_are_exactly_the_routes_the_handler_serves() {
    let routes = post_routes();
    let folders = function_folders();
    for folder in folders.keys() {
        assert!(
            routes.contains(folder),
            "{folder}/function.json has no POST /{folder} route in src/server/mod.rs; the host would get 404"
        );
    }
    for route in &routes {
        if !folders.contains_key(route) {
            assert!(
                FOLDER_PENDING.contains(&route.as_str()),
                "POST /{route} is served but {route}/function.json is missing"
            );
            eprintln!("note: {route}/function.json is not on this branch yet");
        }
    }
    assert!(folders.contains_key("MatchEvents"));
}

fn bindings(function: &Value) -> Vec<&Value> {
    function["bindings"]
        .as_array()
        .expect("function.json has a bindings array")
        .iter()
        .collect()
}

fn binding<'a>(function: &'a Value, name: &str) -> &'a Value {
    bindings(function)
        .into_iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no binding named `{name}`"))
}

#[test]
fn match_events_bindings_carry_the_names_the_handler_reads_and_writes() {
    let folders = function_folders();
    let f = &folders["MatchEvents"];
    let trigger = binding(f, EVENTS_BINDING);
    assert_eq!(trigger["type"], "eventHubTrigger");
    assert_eq!(trigger["direction"], "in");
    assert_eq!(trigger["cardinality"], "many");
    assert_eq!(trigger["dataType"], "binary");
    assert_eq!(trigger["connection"], "EventHubConnection");
    assert_eq!(trigger["eventHubName"], "%EVENTHUB_NAME%");
    assert_eq!(trigger["consumerGroup"], "%EVENTHUB_CONSUMER_GROUP%");

    let matches = binding(f, MATCHES_OUTPUT);
    assert_eq!(matches["type"], "queue");
    assert_eq!(matches["direction"], "out");
    assert_eq!(matches["queueName"], MATCH_QUEUE);
    assert_eq!(matches["connection"], "AzureWebJobsStorage");

    let deadletter = binding(f, DEADLETTER_OUTPUT);
    assert_eq!(deadletter["type"], "blob");
    assert_eq!(deadletter["direction"], "out");
    assert!(
        deadletter["path"]
            .as_str()
            .unwrap()
            .starts_with("deadletter/")
    );
    assert_eq!(deadletter["connection"], "AzureWebJobsStorage");
    assert_eq!(
        bindings(f).len(),
        3,
        "MatchEvents has exactly three bindings"
    );
}

#[test]
fn raise_alerts_is_triggered_by_the_match_queue_when_present() {
    let folders = function_folders();
    let Some(f) = folders.get("RaiseAlerts") else {
        eprintln!("note: RaiseAlerts/function.json is not on this branch yet");
        return;
    };
    let trigger = binding(f, MATCH_BINDING);
    assert_eq!(trigger["type"], "queueTrigger");
    assert_eq!(trigger["direction"], "in");
    assert_eq!(trigger["queueName"], MATCH_QUEUE);
    assert_eq!(trigger["connection"], "AzureWebJobsStorage");
}

/// `"hh:mm:ss"` to seconds.
fn timespan_secs(value: &str) -> u64 {
    let parts: Vec<u64> = value
        .split(':')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("bad timespan {value}")))
        .collect();
    assert_eq!(parts.len(), 3, "timespan {value} is not hh:mm:ss");
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}

/// The `@maxValue(N)` decorating `param <name>` in a Bicep file.
fn bicep_max_value(source: &str, param: &str) -> u64 {
    let at = source
        .find(&format!("param {param} "))
        .unwrap_or_else(|| panic!("no param {param}"));
    let before = &source[..at];
    let decorator = before.rfind("@maxValue(").expect("param has @maxValue");
    let digits: String = before[decorator + "@maxValue(".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn host_json_starts_the_binary_with_a_timeout_that_outlasts_the_misp_deadline() {
    let host = json(&root().join("host.json"));
    assert_eq!(host["version"], "2.0");
    let handler = &host["customHandler"]["description"];
    assert_eq!(handler["defaultExecutablePath"], BINARY);
    assert_eq!(handler["arguments"], serde_json::json!(["serve"]));
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], false);
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );

    // Flex and Premium allow up to unbounded (default 30 min); a finite timeout is kept so a hung
    // invocation is restarted. It must exceed the longest MISP deadline Bicep allows plus one
    // request timeout, or the host would kill the handler before it can dead-letter.
    let timeout = timespan_secs(
        host["functionTimeout"]
            .as_str()
            .expect("functionTimeout set"),
    );
    let main = read(&root().join("infra/main.bicep"));
    let max_deadline = bicep_max_value(&main, "mispDeadlineSeconds");
    let request = vars::MISP_TIMEOUT_SECS.default().as_secs();
    assert!(
        timeout > max_deadline + request,
        "functionTimeout {timeout}s must exceed MISP deadline {max_deadline}s + request {request}s"
    );
    assert!(timeout <= 30 * 60, "functionTimeout above 30 minutes");
    assert!(vars::MISP_DEADLINE_SECS.default().as_secs() <= max_deadline);
}

/// Names of the environment variables the code reads (every one is declared in
/// `src/settings/vars.rs`), with whether `serve` requires them.
fn env_vars_read_by_the_code() -> BTreeMap<String, bool> {
    vars::all()
        .into_iter()
        .map(|d| (d.name.to_owned(), d.required))
        .collect()
}

/// App setting names the Bicep sets: the keys of the settings objects in functionapp.bicep.
fn bicep_app_settings() -> BTreeSet<String> {
    let source = read(&root().join("infra/modules/functionapp.bicep"));
    source
        .lines()
        .filter_map(|line| {
            let (key, _) = line.trim().split_once(':')?;
            (key.len() > 1
                && key.starts_with(|c: char| c.is_ascii_uppercase())
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| key.to_owned())
        })
        .filter(|k| k.contains('_'))
        .collect()
}

fn local_settings() -> BTreeMap<String, String> {
    let settings = json(&root().join("local.settings.json"));
    settings["Values"]
        .as_object()
        .expect("local.settings.json has Values")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Setting names written as `` `NAME` `` in the runbook's settings table.
fn documented_settings() -> BTreeSet<String> {
    read(&root().join("docs/deploy.md"))
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next().map(str::to_owned))
        .collect()
}

#[test]
fn the_settings_the_code_reads_are_found_with_whether_they_are_required() {
    let vars = env_vars_read_by_the_code();
    assert_eq!(vars.get("MISP_URL"), Some(&true));
    assert_eq!(vars.get("MISP_CACHE_HIT_TTL_SECS"), Some(&false));
    assert!(vars.contains_key("MATCH_MAX_RECORDS_PER_EVENT"));
}

#[test]
fn every_setting_the_code_reads_is_set_by_bicep_or_documented_as_optional() {
    let bicep = bicep_app_settings();
    let local = local_settings();
    let documented = documented_settings();
    let mut problems = Vec::new();
    for (var, required) in env_vars_read_by_the_code() {
        if HOST_PROVIDED.contains(&var.as_str()) {
            continue;
        }
        if required && !bicep.contains(&var) {
            problems.push(format!(
                "{var} is required by the code but not set in Bicep"
            ));
        } else if !bicep.contains(&var) && !local.contains_key(&var) && !documented.contains(&var) {
            problems.push(format!(
                "{var} is read by the code but neither set in Bicep nor documented in local.settings.json or docs/deploy.md"
            ));
        }
        if !documented.contains(&var) {
            problems.push(format!(
                "{var} is missing from the settings table in docs/deploy.md"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `%NAME%` placeholders of every function.json.
fn binding_placeholders() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for function in function_folders().values() {
        for b in bindings(function) {
            for value in b.as_object().unwrap().values() {
                if let Some(s) = value.as_str()
                    && let Some(inner) = s.strip_prefix('%').and_then(|s| s.strip_suffix('%'))
                {
                    names.insert(inner.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn bindings_resolve_in_azure_and_locally_with_identity_connections() {
    let bicep = bicep_app_settings();
    let local = local_settings();
    for name in binding_placeholders() {
        assert!(bicep.contains(&name), "%{name}% is not set by Bicep");
        assert!(
            local.contains_key(&name),
            "%{name}% is not in local.settings.json"
        );
    }
    for function in function_folders().values() {
        for b in bindings(function) {
            match b["connection"].as_str() {
                Some("EventHubConnection") => {
                    assert!(bicep.contains("EventHubConnection__fullyQualifiedNamespace"));
                    assert!(
                        local.contains_key("EventHubConnection__fullyQualifiedNamespace")
                            || local.contains_key("EventHubConnection")
                    );
                }
                Some("AzureWebJobsStorage") => {
                    // The service URIs, not __accountName, which assumes the public cloud.
                    for service in ["blob", "queue", "table"] {
                        let key = format!("AzureWebJobsStorage__{service}ServiceUri");
                        assert!(bicep.contains(&key), "{key} is not set by Bicep");
                    }
                    assert!(local.contains_key("AzureWebJobsStorage"));
                }
                Some(other) => panic!("unexpected connection {other}"),
                None => {}
            }
        }
    }
    assert!(
        !bicep
            .iter()
            .any(|k| k == "AzureWebJobsStorage" || k.ends_with("ConnectionString")),
        "no key-based connection string in Bicep"
    );
    assert_eq!(local["FUNCTIONS_WORKER_RUNTIME"], "custom");
    assert_ne!(
        local["EVENTHUB_CONSUMER_GROUP"].to_ascii_lowercase(),
        "$default"
    );
}

#[test]
fn flex_gets_no_worker_runtime_setting_and_premium_does() {
    let source = read(&root().join("infra/modules/functionapp.bicep"));
    let premium = source
        .split("var premiumSettings = isFlex")
        .nth(1)
        .and_then(|rest| rest.split("\nvar ").next())
        .expect("functionapp.bicep has var premiumSettings = isFlex ? {} : {...}");
    assert!(premium.trim_start().starts_with("? {}"));
    assert!(premium.contains("FUNCTIONS_WORKER_RUNTIME: 'custom'"));
    assert_eq!(source.matches("FUNCTIONS_WORKER_RUNTIME:").count(), 1);
    assert!(source.contains("name: 'custom'"), "Flex runtime is custom");
}

#[test]
fn the_parameters_file_matches_main_bicep_and_holds_no_secret() {
    let main = read(&root().join("infra/main.bicep"));
    let params = json(&root().join("infra/main.parameters.json"));
    let params = params["parameters"].as_object().unwrap();
    for name in params.keys() {
        assert!(
            main.contains(&format!("param {name} ")),
            "main.parameters.json sets {name}, which main.bicep does not declare"
        );
    }
    assert!(
        !params.contains_key("mispApiKey"),
        "the MISP key goes on the command line or in a vault, not in a file"
    );
    let group = params["eventHubConsumerGroupName"]["value"]
        .as_str()
        .unwrap();
    assert_ne!(group.to_ascii_lowercase(), "$default");
}
