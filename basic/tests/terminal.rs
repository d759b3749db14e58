//! Progress bars are drawn on a terminal and nowhere else (the README's promise for transfers).

use std::process::Stdio;

use tokio::process::Command;

#[tokio::test]
async fn download_and_upload_show_progress_on_a_terminal_only() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let (home, work) = (tempfile::tempdir().expect("home"), tempfile::tempdir().expect("work"));
    let env = format!(
        "env -i HOME='{home}' PATH=\"$PATH\" TERM=xterm SOS_SANDBOX_URL=http://127.0.0.1:1 SOS_SANDBOX_DATA_DIR='{home}/sandbox-data'",
        home = home.path().display()
    );
    let command = format!("{env} '{}'", env!("CARGO_BIN_EXE_basic"));
    let on_terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(work.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("script runs");
    let shown = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{shown}");
    // Step 5's download bar, then step 6's upload bar: bytes done / total.
    assert_eq!(shown.matches("6.99 KiB/6.99 KiB").count(), 2, "two bars on a terminal:\n{shown}");

    let piped = Command::new("sh").args(["-c", &command]).current_dir(work.path()).output().await.expect("runs");
    assert!(piped.status.success(), "{}", String::from_utf8_lossy(&piped.stderr));
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains("KiB"), "no bar when stderr is not a terminal:\n{err}");
    assert!(err.is_empty(), "{err}");
}
