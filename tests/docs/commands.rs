//! Every command quoted in a shell block of docs/*.md and README.md is accounted for: run here
//! (the handler binary on the bundled samples, scripts' `--help`), run by scripts/test (the
//! scripts, the cargo tests it names, which must exist), or listed as needing Azure or a tool
//! that cannot be installed offline. A command nobody classified fails the test, so a new
//! instruction in a document cannot go unchecked by accident.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::{read, root};

/// Commands known to be wrong in a document another piece of work is correcting: (file,
/// command, why); skipped with a note while they are still there. None today.
const ASSIGNED_ELSEWHERE: &[(&str, &str, &str)] = &[];

#[derive(Debug, PartialEq, Eq)]
enum How {
    /// The test runs it.
    Here,
    /// scripts/test (or a script it calls) runs it.
    ScriptsTest,
    /// Needs Azure, Core Tools, the network or an interactive session.
    Elsewhere(&'static str),
    /// Shell syntax inside a block (`do`, `done`, …).
    Syntax,
}

const SCRIPTS: &[&str] = &[
    "scripts/package.sh",
    "scripts/check-package.sh",
    "scripts/check-infra.sh",
    "scripts/azurite",
    "scripts/fuzz-smoke",
    "scripts/scan-logs",
    "scripts/check-kql",
];

fn classify(command: &str) -> How {
    let first = command.split_whitespace().next().unwrap_or("");
    match first {
        "az" | "azd" => How::Elsewhere("Azure"),
        "func" => How::Elsewhere("Azure Functions Core Tools, which cannot be installed offline"),
        "pip" | "npm" | "npx" => How::Elsewhere("a package registry"),
        "scripts/test" => How::ScriptsTest,
        "cargo" if command.starts_with("cargo run --quiet -- ") => How::Here,
        "cargo" => How::ScriptsTest,
        "defender-misp" if command.contains('[') || command.contains("...") => How::Here,
        "for" | "do" | "done" | "then" | "fi" | "else" | "}" => How::Syntax,
        s if SCRIPTS.contains(&s) => How::ScriptsTest,
        s if s.starts_with("infra/") && command.ends_with(" --help") => How::Here,
        s if s.starts_with("infra/") => How::Elsewhere("Azure (infra/ scripts call az)"),
        "export" if command.contains("MISP_API_KEY") => {
            How::Elsewhere("Azure (the deploy step's key)")
        }
        s if s.contains("=$(az") || s.ends_with("=$(az") => How::Elsewhere("Azure"),
        _ if command.contains("$(az ") => How::Elsewhere("Azure"),
        _ => How::Elsewhere("unclassified"),
    }
}

/// (file, command) for every line of every shell block, continuation lines joined and
/// comments dropped.
fn quoted_commands() -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push(root().join("README.md"));
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        let (mut in_shell, mut pending) = (false, String::new());
        for line in read(&file).lines() {
            let trimmed = line.trim();
            if let Some(lang) = trimmed.strip_prefix("```") {
                in_shell = !in_shell && matches!(lang, "bash" | "sh" | "shell" | "console");
                continue;
            }
            if !in_shell {
                continue;
            }
            let code = trimmed.split(" #").next().unwrap_or("").trim();
            if code.is_empty() || code.starts_with('#') {
                continue;
            }
            pending.push_str(code.trim_end_matches('\\').trim());
            if code.ends_with('\\') {
                pending.push(' ');
                continue;
            }
            out.push((name.clone(), std::mem::take(&mut pending)));
        }
    }
    out
}

fn assigned_elsewhere(file: &str, command: &str) -> Option<&'static str> {
    ASSIGNED_ELSEWHERE
        .iter()
        .find(|(f, c, _)| *f == file && *c == command)
        .map(|(_, _, why)| *why)
}

#[test]
fn every_command_quoted_in_the_documents_is_run_by_a_test_or_needs_azure() {
    let commands = quoted_commands();
    assert!(commands.len() > 20, "too few commands found: {commands:?}");
    let mut unclassified = Vec::new();
    let (mut here, mut ci, mut elsewhere) = (0, 0, 0);
    for (file, command) in &commands {
        if let Some(why) = assigned_elsewhere(file, command) {
            eprintln!("docs: not run, {file}: `{command}`: {why}");
            continue;
        }
        match classify(command) {
            How::Here => {
                run_here(command);
                here += 1;
            }
            How::ScriptsTest => {
                run_by_scripts_test(command);
                ci += 1;
            }
            How::Elsewhere("unclassified") => unclassified.push(format!("{file}: {command}")),
            How::Elsewhere(_) => elsewhere += 1,
            How::Syntax => {}
        }
    }
    eprintln!(
        "docs: {here} commands run here, {ci} run by scripts/test, {elsewhere} need Azure or other tools"
    );
    assert!(
        unclassified.is_empty(),
        "commands no test accounts for (classify them in tests/docs/commands.rs):\n{}",
        unclassified.join("\n")
    );
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_defender-misp"))
}

/// Runs a command the test can run offline, and checks what the document says about it.
fn run_here(command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    if let Some(args) = command.strip_prefix("cargo run --quiet -- ") {
        let output = binary()
            .args(args.split_whitespace())
            .current_dir(root())
            .env_remove("MISP_URL")
            .output()
            .unwrap();
        assert!(output.status.success(), "`{command}` failed: {output:?}");
        let lines = String::from_utf8_lossy(&output.stdout).lines().count();
        if args.starts_with("scan samples/records") {
            assert_eq!(
                lines, 4,
                "`{command}`: the documents say it prints 4 matches"
            );
        }
    } else if words[0] == "defender-misp" {
        // A synopsis: every flag it shows is one the command accepts.
        let help = binary().args([words[1], "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in words
            .iter()
            .filter_map(|w| w.trim_matches(['[', ']']).strip_prefix("--"))
        {
            let flag = flag.split_whitespace().next().unwrap_or(flag);
            assert!(
                help.contains(&format!("--{flag}")),
                "`{command}`: no --{flag} in `{} --help`",
                words[1]
            );
        }
    } else {
        let output = Command::new(root().join(words[0]))
            .args(&words[1..])
            .output()
            .unwrap();
        assert!(output.status.success(), "`{command}` failed: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "`{command}` shows no usage"
        );
    }
}

/// What scripts/test runs: the script is called by scripts/test (or by check-infra.sh, which it
/// calls); a cargo command names test targets that exist and one filter at most.
fn run_by_scripts_test(command: &str) {
    let test_script = read(&root().join("scripts/test"));
    let infra_script = read(&root().join("scripts/check-infra.sh"));
    let words: Vec<&str> = command.split_whitespace().collect();
    match words[0] {
        "scripts/test" => assert!(read(&root().join(".ci/run")).contains("scripts/test")),
        "cargo" => check_cargo(command, &words, &test_script),
        script => assert!(
            test_script.contains(script) || infra_script.contains(script),
            "`{command}`: scripts/test does not run {script}"
        ),
    }
}

fn check_cargo(command: &str, words: &[&str], test_script: &str) {
    if words[1] != "test" {
        // `cargo build` and the like: the same build the tests make.
        assert!(
            test_script.contains("cargo test --all-targets"),
            "{command}"
        );
        return;
    }
    assert!(
        test_script.contains("cargo test --all-targets"),
        "scripts/test runs every test target"
    );
    let mut positional: BTreeSet<&str> = BTreeSet::new();
    let mut args = words[2..].iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--test" => {
                let target = args.next().expect("--test needs a name");
                let exists = root().join(format!("tests/{target}.rs")).is_file()
                    || root().join(format!("tests/{target}/main.rs")).is_file();
                assert!(exists, "`{command}`: there is no test target {target}");
            }
            "&&" => break,
            a if a.starts_with('-') => {}
            a => {
                positional.insert(a);
            }
        }
    }
    assert!(
        positional.len() <= 1,
        "`{command}`: cargo test takes one filter, given {positional:?}"
    );
}
