//! `nomfa` run as a user runs it: on a fresh machine, and with the MFA-exempt application key
//! against a sandbox that requires MFA.

use std::process::Output;

use sandbox::identity::{APP_ACCESS_KEY_ID, APP_SECRET_ACCESS_KEY};
use sandbox::{Sandbox, SandboxOptions};
use tokio::process::Command;

const SWE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/Missouri Open Loop sample output/SWE 2024-03-01.geojson");

fn nomfa(home: &std::path::Path, work: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nomfa"));
    cmd.current_dir(work)
        .env_clear()
        .env("HOME", home)
        .env("SOS_SANDBOX_URL", "http://127.0.0.1:1")
        .env("SOS_SANDBOX_DATA_DIR", home.join("sandbox-data"));
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "stdout:\n{}\nstderr:\n{}", text(&output.stdout), text(&output.stderr));
}

#[tokio::test]
async fn runs_on_a_fresh_machine_with_the_embedded_sandbox() {
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let output = nomfa(home.path(), work.path()).output().await.expect("nomfa runs");
    assert_success(&output);
    let out = text(&output.stdout);
    assert!(out.lines().next().unwrap_or_default().contains("embedded sandbox"), "{out}");
    assert!(out.contains("  Missouri Open Loop sample output/basin_mean_swe.csv  (992 bytes)"), "{out}");
    assert!(out.contains("features:        6"), "{out}");
    let downloaded = std::fs::read(work.path().join("SWE 2024-03-01.geojson")).expect("downloaded");
    assert_eq!(downloaded, std::fs::read(SWE).expect("sample"));
}

#[tokio::test]
async fn the_application_key_works_where_mfa_is_required_and_the_user_key_does_not() {
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions { require_mfa: true, standalone: true, ..SandboxOptions::ephemeral(data.path()) };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));

    let app = nomfa(home.path(), work.path())
        .arg("--sandbox")
        .env("SOS_SANDBOX_URL", sandbox.url())
        .env("AWS_ACCESS_KEY_ID", APP_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", APP_SECRET_ACCESS_KEY)
        .output()
        .await
        .expect("nomfa runs");
    assert_success(&app);
    assert!(text(&app.stdout).contains("running sandbox"), "{}", text(&app.stdout));

    let user = nomfa(home.path(), work.path()).env("SOS_SANDBOX_URL", sandbox.url()).output().await.expect("runs");
    assert!(!user.status.success());
    let err = text(&user.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: ") && err.contains("MFA"), "{err}");
}

#[tokio::test]
async fn download_to_puts_the_file_in_a_directory_and_help_has_no_mfa_flags() {
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    std::fs::create_dir(work.path().join("out")).expect("dir");
    let output = nomfa(home.path(), work.path()).args(["--download-to", "out"]).output().await.expect("nomfa runs");
    assert_success(&output);
    let downloaded = std::fs::read(work.path().join("out/SWE 2024-03-01.geojson")).expect("inside out/");
    assert_eq!(downloaded, std::fs::read(SWE).expect("sample"));
    assert!(!work.path().join("SWE 2024-03-01.geojson").exists(), "nothing in the working directory");

    let help = nomfa(home.path(), work.path()).arg("--help").output().await.expect("help");
    let help = text(&help.stdout);
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
    assert_eq!(text(&out.stdout).lines().count(), 3, "{}{}", text(&out.stdout), text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_keeps_listing_across_session_renewals_until_ctrl_c() {
    use tokio::io::AsyncBufReadExt as _;
    let data = tempfile::tempdir().expect("data");
    let options = SandboxOptions {
        require_mfa: true,
        standalone: true,
        min_session_seconds: 1,
        ..SandboxOptions::ephemeral(data.path())
    };
    let sandbox = Sandbox::start(options).await.expect("sandbox");
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    // Sessions of 1 s, a listing every second: every listing needs a renewed session.
    let mut child = nomfa(home.path(), work.path())
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
    assert!(output.status.success(), "exit 0 after Ctrl-C:\n{shown}\n{}", text(&output.stderr));
    let sessions = text(&output.stderr).matches("new GetSessionToken session").count();
    assert!(sessions >= 4, "a session per listing at least ({sessions}):\n{}", text(&output.stderr));
}
