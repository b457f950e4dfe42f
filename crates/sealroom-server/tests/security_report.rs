//! `docs/SECURITY-TESTS.md` against the tree: every test the report names exists, and every
//! test in the attacker files it lists is in the report. A test renamed, removed or added
//! without the report following fails here.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The backquoted test references in the first column of the report's tables.
fn named_tests(report: &str) -> BTreeSet<String> {
    report
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .collect()
}

/// The files whose every test must be in the report.
fn attacker_files(report: &str) -> Vec<String> {
    let section = report
        .split("## Attacker files")
        .nth(1)
        .expect("the report lists its attacker files");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

/// The names of the `#[test]` / `#[tokio::test]` functions in a Rust test file.
fn rust_tests(source: &str) -> Vec<String> {
    let mut tests = Vec::new();
    let mut attribute_seen = false;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
            attribute_seen = true;
        } else if attribute_seen
            && let Some(rest) = line
                .strip_prefix("async fn ")
                .or_else(|| line.strip_prefix("fn "))
        {
            tests.extend(rest.split('(').next().map(str::to_owned));
            attribute_seen = false;
        }
    }
    tests
}

#[test]
fn every_test_the_report_names_exists() {
    let report = read("docs/SECURITY-TESTS.md");
    let named = named_tests(&report);
    assert!(named.len() > 50, "the report's tables were not found");
    for reference in &named {
        let (path, name) = reference
            .split_once("::")
            .map_or((reference.as_str(), None), |(p, n)| (p, Some(n)));
        let source = read(path);
        let Some(name) = name else { continue };
        let found = if path.ends_with(".rs") {
            rust_tests(&source).iter().any(|t| t == name)
        } else {
            source.contains(&format!("test('{name}'"))
                || source.contains(&format!("test(\"{name}\""))
        };
        assert!(
            found,
            "the report names {reference}, which is not a test in {path}"
        );
    }
}

#[test]
fn every_test_of_the_attacker_files_is_in_the_report() {
    let report = read("docs/SECURITY-TESTS.md");
    let named = named_tests(&report);
    let files = attacker_files(&report);
    assert!(!files.is_empty());
    let mut missing = Vec::new();
    for file in &files {
        for test in rust_tests(&read(file)) {
            if !named.contains(&format!("{file}::{test}")) {
                missing.push(format!("{file}::{test}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests missing from docs/SECURITY-TESTS.md:\n{}",
        missing.join("\n")
    );
}
