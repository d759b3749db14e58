//! The `.env` lines `setup` prints, and writing them into a `.env` file without losing the rest.

use std::io::Write as _;
use std::path::Path;

/// `text` (a `.env` file's contents) with `KEY=value` for each pair: an existing line for a key
/// is replaced in place, a new key is appended, every other line (comments, other keys) is kept.
pub fn merge(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut done = vec![false; pairs.len()];
    let mut out = String::with_capacity(text.len() + 200);
    for line in text.lines() {
        let key = line.trim_start().strip_prefix("export ").unwrap_or(line.trim_start());
        let key = key.split_once('=').map(|(k, _)| k.trim());
        match key.and_then(|k| pairs.iter().position(|(name, _)| *name == k)) {
            Some(i) if !done[i] => {
                out.push_str(&format!("{}={}\n", pairs[i].0, pairs[i].1));
                done[i] = true;
            }
            Some(_) => {} // a second line for a key already written: drop it, or it would win
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for (pair, _) in pairs.iter().zip(&done).filter(|(_, done)| !**done) {
        out.push_str(&format!("{}={}\n", pair.0, pair.1));
    }
    out
}

/// Merges `pairs` into the file at `path` (created if missing): written to a temp file beside
/// it and renamed, so a failure leaves the old file as it was. Returns whether the file changed.
pub fn write(path: &Path, pairs: &[(&str, &str)]) -> std::io::Result<bool> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(err),
    };
    let new = merge(&old, pairs);
    if new == old {
        return Ok(false);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(new.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the old file's permissions (a .env may be 0600 for other keys it holds).
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_replaced_in_place_and_the_rest_kept() {
        let text = "# my settings\ns3_bucket=old\nRUST_LOG=debug\nexport sqs_url = http://old\n";
        let merged = merge(text, &[("s3_bucket", "new"), ("sqs_url", "http://new"), ("sns_topic_arn", "arn:t")]);
        assert_eq!(merged, "# my settings\ns3_bucket=new\nRUST_LOG=debug\nsqs_url=http://new\nsns_topic_arn=arn:t\n");
    }

    #[test]
    fn merging_again_changes_nothing() {
        let pairs = [("s3_bucket", "b"), ("sqs_url", "u")];
        let once = merge("", &pairs);
        assert_eq!(once, "s3_bucket=b\nsqs_url=u\n");
        assert_eq!(merge(&once, &pairs), once);
    }

    #[test]
    fn duplicate_lines_for_a_key_collapse_to_one() {
        assert_eq!(merge("s3_bucket=a\ns3_bucket=b\n", &[("s3_bucket", "c")]), "s3_bucket=c\n");
    }

    #[test]
    fn writing_creates_then_reports_no_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".env");
        std::fs::write(&path, "KEEP=1\n").expect("write");
        assert!(write(&path, &[("s3_bucket", "b")]).expect("first"));
        assert!(!write(&path, &[("s3_bucket", "b")]).expect("second"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "KEEP=1\ns3_bucket=b\n");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no temp file left");
    }
}
