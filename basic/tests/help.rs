//! Every binary's `--help`, as a user reads it: each example's own flags under "Options", the MFA
//! flags (where there are any) under "MFA", the flags every example shares under "Common options",
//! `-h` and `-V` last; the sandbox's and the notifier's too (the notifier's with no `TOPIC_ARN`).

use std::path::{Path, PathBuf};

use testkit::workspace_binary;

/// The flags of `common::CommonArgs`, in their order, then `-h` and `-V`.
const COMMON: &[&str] =
    &["--bucket", "--endpoint-url", "--profile", "--region", "--sandbox", "--verbose", "--help", "--version"];
/// The flags of `common::MfaArgs`.
const MFA: &[&str] = &["--mfa-serial", "--token-code", "--no-cache", "--duration"];

/// `(heading, entries)` of a help text: each entry is an argument's long name (`--bucket`) or
/// positional name (`[FILE]`), read from the lines that start an argument (continuation lines of
/// wrapped descriptions are indented further and skipped).
fn sections(help: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in help.lines() {
        if let Some(heading) = line
            .strip_suffix(':')
            .filter(|h| matches!(*h, "Arguments" | "Options" | "Commands" | "MFA" | "Common options"))
        {
            sections.push((heading.to_owned(), Vec::new()));
            continue;
        }
        let entry = if let Some(rest) = line.strip_prefix("  ").filter(|r| r.starts_with(['[', '<'])) {
            rest.split_whitespace().next().map(str::to_owned)
        } else if let Some(rest) =
            line.strip_prefix("  -").filter(|r| r.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        {
            // `-h, --help` → `--help`
            rest.split_whitespace().nth(1).map(|long| long.trim_end_matches("...").to_owned())
        } else if let Some(rest) = line.strip_prefix("      --") {
            rest.split_whitespace().next().map(|long| format!("--{}", long.trim_end_matches("...")))
        } else if line.starts_with("  ") && !line.starts_with("   ") {
            // A subcommand (`  mfa-code  Print …`).
            line.split_whitespace().next().map(str::to_owned)
        } else {
            None
        };
        if let (Some(entry), Some((_, entries))) = (entry, sections.last_mut()) {
            entries.push(entry);
        }
    }
    sections
}

fn help_of(binary: &Path) -> String {
    let output = std::process::Command::new(binary)
        .arg("--help")
        .env_clear()
        .env("COLUMNS", "100")
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{} --help failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty(), "{} --help wrote to stderr", binary.display());
    text
}

/// Checks an example's help: `own` are its own flags (in order; positionals first), `mfa` whether
/// it has the MFA flags.
fn check_example(name: &str, own: &[&str], mfa: bool) {
    let path = if name == "basic" { PathBuf::from(env!("CARGO_BIN_EXE_basic")) } else { workspace_binary(name) };
    let help = help_of(&path);
    let found = sections(&help);
    let positionals: Vec<&str> = own.iter().copied().filter(|o| o.starts_with('[')).collect();
    let options: Vec<&str> = own.iter().copied().filter(|o| !o.starts_with('[')).collect();
    let mut expected: Vec<(&str, Vec<&str>)> = Vec::new();
    if !positionals.is_empty() {
        expected.push(("Arguments", positionals));
    }
    expected.push(("Options", options));
    if mfa {
        expected.push(("MFA", MFA.to_vec()));
    }
    expected.push(("Common options", COMMON.to_vec()));
    let found: Vec<(&str, Vec<&str>)> =
        found.iter().map(|(h, e)| (h.as_str(), e.iter().map(String::as_str).collect())).collect();
    assert_eq!(found, expected, "{name} --help:\n{help}");
}

#[test]
fn basic_help_lists_its_own_flags_then_the_common_ones() {
    check_example("basic", &["--prefix", "--key", "--download-to", "--upload", "--upload-key"], false);
}

#[test]
fn mfa_help_has_the_mfa_flags_under_their_own_heading() {
    check_example("mfa", &["--key", "--upload", "--queue-url", "--queue", "--download-to"], true);
}

#[test]
fn nomfa_help_has_no_mfa_heading() {
    check_example("nomfa", &["--prefix", "--key", "--download-to", "--watch", "--duration"], false);
}

#[test]
fn uploader_help_keeps_its_file_and_flags_out_of_the_mfa_heading() {
    check_example("uploader", &["[FILE]", "--key", "--mfa"], true);
}

#[test]
fn subscriber_help_keeps_its_flags_out_of_the_mfa_heading() {
    let own = [
        "--queue-url",
        "--download-dir",
        "--concurrency",
        "--max-messages",
        "--idle-exit",
        "--retry-delay",
        "--visibility-timeout",
        "--exec-timeout",
        "--exec",
        "--mfa",
    ];
    check_example("subscriber", &own, true);
}

#[test]
fn setup_help_keeps_its_flags_out_of_the_mfa_heading() {
    check_example(
        "setup",
        &["--topic", "--queue", "--max-receives", "--noncurrent-days", "--lambda-arn", "--env-file", "--mfa"],
        true,
    );
}

#[test]
fn sandbox_help_lists_its_commands_and_ends_with_help_and_version() {
    let help = help_of(&workspace_binary("sandbox"));
    let found = sections(&help);
    let headings: Vec<&str> = found.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(headings, ["Commands", "Options"], "{help}");
    assert_eq!(found[0].1, ["mfa-code", "keys", "help"], "{help}");
    assert!(found[1].1.ends_with(&["--help".to_owned(), "--version".to_owned()]), "{help}");
}

#[test]
fn notifier_help_needs_no_topic_arn() {
    let help = help_of(&workspace_binary("notifier"));
    assert!(help.contains("Usage: notifier"), "{help}");
    let found = sections(&help);
    assert_eq!(
        found,
        [("Options".to_owned(), vec!["--topic-arn".to_owned(), "--help".to_owned(), "--version".to_owned()])],
        "{help}"
    );
}
