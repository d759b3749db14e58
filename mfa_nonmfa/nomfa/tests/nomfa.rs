//! `nomfa` run as a user runs it: on a fresh machine, and with the MFA-exempt application key
//! against a sandbox that requires MFA.

use sandbox::SandboxOptions;
use sandbox::identity::{APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY};
use testkit::{Machine, TestSandbox, assert_one_line_failure, assert_success, stderr, stdout};
use tokio::process::Command;

const SWE: &str = "Missouri Open Loop sample output/SWE 2024-03-01.geojson";

/// `nomfa` on `machine`, with no sandbox to find.
fn nomfa(machine: &Machine) -> Command {
    machine.command(env!("CARGO_BIN_EXE_nomfa"))
}

#[tokio::test]
async fn runs_on_a_fresh_machine_with_the_embedded_sandbox() {
    let machine = Machine::new();
    let output = nomfa(&machine).output().await.expect("nomfa runs");
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.lines().next().unwrap_or_default().contains("embedded sandbox"), "{out}");
    assert!(out.contains("  Missouri Open Loop sample output/basin_mean_swe.csv  (992 bytes)"), "{out}");
    assert!(out.contains("features:        6"), "{out}");
    let downloaded = std::fs::read(machine.work().join("SWE 2024-03-01.geojson")).expect("downloaded");
    assert_eq!(downloaded, testkit::sample(SWE));
}

#[tokio::test]
async fn the_application_key_works_where_mfa_is_required_and_the_user_key_does_not() {
    let sandbox = TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, ..o }).await;
    let machine = Machine::new();

    let app = nomfa(&machine)
        .arg("--sandbox")
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("AWS_ACCESS_KEY_ID", APP_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", APP_SECRET_ACCESS_KEY)
        .output()
        .await
        .expect("nomfa runs");
    assert_success(&app);
    assert!(stdout(&app).contains("running sandbox"), "{}", stdout(&app));

    let user = nomfa(&machine).env("SOS_SANDBOX_URL", sandbox.url()).output().await.expect("runs");
    assert_one_line_failure(&user, &["MFA"]);
}

#[tokio::test]
async fn download_to_puts_the_file_in_a_directory_and_help_has_no_mfa_flags() {
    let machine = Machine::new();
    std::fs::create_dir(machine.work().join("out")).expect("dir");
    let output = nomfa(&machine).args(["--download-to", "out"]).output().await.expect("nomfa runs");
    assert_success(&output);
    let downloaded = std::fs::read(machine.work().join("out/SWE 2024-03-01.geojson")).expect("inside out/");
    assert_eq!(downloaded, testkit::sample(SWE));
    assert!(!machine.work().join("SWE 2024-03-01.geojson").exists(), "nothing in the working directory");

    let help = nomfa(&machine).arg("--help").output().await.expect("help");
    let help = stdout(&help);
    assert!(help.contains("--download-to"), "{help}");
    for flag in ["--token-code", "--mfa-serial", "--no-cache"] {
        assert!(!help.contains(flag), "{flag} in nomfa --help:\n{help}");
    }
}

#[test]
fn the_repository_ignores_what_the_examples_download_into_its_root() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Ok(out) = std::process::Command::new("git")
        .args([
            "check-ignore",
            "--no-index",
            "Optimization_result.geojson",
            "SWE 2024-03-01.geojson",
            "basin_mean_swe.csv",
        ])
        .current_dir(&root)
        .output()
    else {
        eprintln!("skipped: git is not installed");
        return;
    };
    if !root.join(".git").exists() {
        eprintln!("skipped: not a git checkout");
        return;
    }
    assert_eq!(stdout(&out).lines().count(), 3, "{}{}", stdout(&out), stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_listing_across_session_renewals_until_ctrl_c() {
    use tokio::io::AsyncBufReadExt as _;
    let sandbox =
        TestSandbox::with(|o| SandboxOptions { require_mfa: true, standalone: true, min_session_seconds: 1, ..o })
            .await;
    let machine = Machine::new();
    // Sessions of 1 s, a listing every second: every listing needs a renewed session.
    let mut child = nomfa(&machine)
        .args(["--sandbox", "--duration", "1", "--watch", "1", "-v"])
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("AWS_ACCESS_KEY_ID", APP_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", APP_SECRET_ACCESS_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nomfa runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut listings = 0;
    let mut shown = String::new();
    while listings < 4 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line in time")
            .expect("read")
            .unwrap_or_else(|| panic!("nomfa ended early:\n{shown}"));
        listings += usize::from(line.ends_with("files under the prefix"));
        shown.push_str(&line);
        shown.push('\n');
    }
    // Ctrl-C.
    let pid = child.id().expect("pid").to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().await.expect("kill").success());
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("ends after Ctrl-C")
        .expect("output");
    assert!(output.status.success(), "exit 0 after Ctrl-C:\n{shown}\n{}", stderr(&output));
    let sessions = stderr(&output).matches("new GetSessionToken session").count();
    assert!(sessions >= 4, "a session per listing at least ({sessions}):\n{}", stderr(&output));
}
