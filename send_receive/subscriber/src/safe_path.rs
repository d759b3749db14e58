//! Where on disk a downloaded object may go.
//!
//! **The threat.** The seed's subscriber saved each object to a file named by its S3 key, as given in the message.
//! Whoever can put an object in the bucket — or a message on the queue — therefore chose where the subscriber
//! writes: a key such as `../../.bashrc`, `/etc/cron.d/job` or `C:\Users\me\Startup\x.bat` overwrites a file outside
//! the download directory with attacker-controlled bytes (the "zip slip" class of bug). Keys may also carry NUL or
//! control characters that truncate paths or garble the terminal they are printed to.
//!
//! **The defence.** [`local_path`] accepts only keys made of plain `/`-separated names and builds the path by
//! pushing each validated name onto the download directory, so the result is always inside it. Anything else is
//! refused with an [`UnsafeKey`] that says why; the caller reports it and skips the object.
//!
//! What this cannot see: the file system. If a directory *inside* the download directory is a symbolic link to
//! somewhere else, a path through it leaves the directory; the download directory should belong to the subscriber.

use std::path::{Component, Path, PathBuf};

/// The longest file name most file systems accept (ext4, APFS, NTFS: 255 bytes or UTF-16 units).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Why a key cannot be turned into a local path. Display gives the reason in one line, without the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsafeKey {
    /// The key is the empty string.
    #[error("key is empty")]
    Empty,
    /// The key starts with `/` or `\`, so it would name a path from the root of the file system.
    #[error("key is an absolute path (it starts with `/` or `\\`)")]
    Absolute,
    /// The key starts with a Windows drive such as `C:`.
    #[error("key starts with a Windows drive prefix `{0}:`")]
    DrivePrefix(char),
    /// The key contains a control character (U+0000–U+001F, U+007F–U+009F), e.g. NUL or a newline.
    #[error("key contains control character U+{:04X} at byte {index}", u32::from(*character))]
    ControlCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the key.
        index: usize,
    },
    /// The key contains a backslash, which Windows would read as a directory separator.
    #[error("key contains a backslash (a Windows directory separator)")]
    Backslash,
    /// A segment is `.` or `..`, which would name the current or the parent directory.
    #[error("key has a `{0}` segment")]
    DotSegment(&'static str),
    /// Two slashes in a row, or a trailing slash (a "folder" placeholder object).
    #[error("key has an empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    /// A segment longer than [`MAX_SEGMENT_BYTES`].
    #[error("key has a segment of {0} bytes (at most {MAX_SEGMENT_BYTES} are allowed)")]
    SegmentTooLong(usize),
    /// A segment that this platform's path rules read as something other than a plain name.
    #[error("key has a segment that is not a plain file name on this platform")]
    NotPlainName,
}

/// Turns an S3 key into a path under `download_dir`, refusing any key that could name a file outside it.
///
/// The key is split on `/` and each segment becomes one path component, so
/// `Missouri Open Loop sample output/SWE 2024-03-01.geojson` becomes
/// `<download_dir>/Missouri Open Loop sample output/SWE 2024-03-01.geojson`. Spaces, `+`, `:` after the first
/// segment and non-ASCII letters are kept. Refused: the empty key; absolute keys (leading `/` or `\`, or a drive
/// prefix like `C:`); `.` and `..` segments; empty segments (`a//b`, `dir/`); control characters including NUL;
/// backslashes; segments longer than [`MAX_SEGMENT_BYTES`].
///
/// On success the result always `starts_with(download_dir)`. Nothing is read from or written to the disk.
pub fn local_path(download_dir: &Path, key: &str) -> Result<PathBuf, UnsafeKey> {
    if key.is_empty() {
        return Err(UnsafeKey::Empty);
    }
    if key.starts_with(['/', '\\']) {
        return Err(UnsafeKey::Absolute);
    }
    if let [drive, b':', ..] = key.as_bytes()
        && drive.is_ascii_alphabetic()
    {
        return Err(UnsafeKey::DrivePrefix(char::from(*drive)));
    }
    if let Some((index, character)) = key.char_indices().find(|(_, c)| c.is_control()) {
        return Err(UnsafeKey::ControlCharacter { character, index });
    }
    if key.contains('\\') {
        return Err(UnsafeKey::Backslash);
    }

    let mut path = download_dir.to_path_buf();
    for segment in key.split('/') {
        match segment {
            "" => return Err(UnsafeKey::EmptySegment),
            "." => return Err(UnsafeKey::DotSegment(".")),
            ".." => return Err(UnsafeKey::DotSegment("..")),
            _ if segment.len() > MAX_SEGMENT_BYTES => return Err(UnsafeKey::SegmentTooLong(segment.len())),
            _ => {}
        }
        // Belt and braces: the platform must read the segment as exactly one ordinary name (on Windows this also
        // catches prefixes such as `\\?\` or `C:` that the checks above would already have refused).
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if name == segment => path.push(name),
            _ => return Err(UnsafeKey::NotPlainName),
        }
    }
    debug_assert!(path.starts_with(download_dir));
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/srv/sos/downloads")
    }

    fn ok(key: &str) -> PathBuf {
        local_path(&dir(), key).unwrap_or_else(|error| panic!("{key:?} refused: {error}"))
    }

    fn refused(key: &str) -> UnsafeKey {
        match local_path(&dir(), key) {
            Ok(path) => panic!("{key:?} should be refused, got {path:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn plain_keys_are_accepted() {
        assert_eq!(ok("Optimization_result.geojson"), dir().join("Optimization_result.geojson"));
        assert_eq!(
            ok("Missouri Open Loop sample output/SWE 2024-03-01.geojson"),
            dir().join("Missouri Open Loop sample output").join("SWE 2024-03-01.geojson")
        );
        assert_eq!(ok("snow ü+ice.geojson"), dir().join("snow ü+ice.geojson"));
        assert_eq!(ok("a/b/c/d.txt"), dir().join("a").join("b").join("c").join("d.txt"));
    }

    #[test]
    fn unusual_but_harmless_names_are_accepted() {
        for key in [
            " ",
            " leading space",
            "trailing space ",
            "...",
            ".hidden",
            "..hidden",
            "a..b",
            "dir/.hidden",
            "dir/...",
            "a+b%20c",
            "❄/雪/снег.geojson",
            "2024-03-01T12:00:00Z.geojson",
            "dir/C:x",
            "1:2",
            "-rf",
            "~",
            "~/x",
            "$HOME/x",
            "tab\u{00A0}nbsp",
        ] {
            let path = ok(key);
            assert!(path.starts_with(dir()), "{key:?} → {path:?}");
            assert_eq!(path.components().count(), dir().components().count() + key.split('/').count(), "{key:?}");
        }
    }

    #[test]
    fn segment_of_exactly_255_bytes_is_accepted() {
        let long = "x".repeat(MAX_SEGMENT_BYTES);
        assert_eq!(ok(&format!("dir/{long}")), dir().join("dir").join(&long));
        // 127 two-byte letters + 1 byte = 255 bytes.
        let unicode = format!("{}x", "ü".repeat(127));
        assert_eq!(unicode.len(), 255);
        assert_eq!(ok(&unicode), dir().join(&unicode));
    }

    #[test]
    fn empty_key_is_refused() {
        assert_eq!(refused(""), UnsafeKey::Empty);
    }

    #[test]
    fn absolute_keys_are_refused() {
        for key in ["/etc/passwd", "/", "//server/share", "\\Windows\\System32", "\\\\?\\C:\\x", "\\"] {
            assert_eq!(refused(key), UnsafeKey::Absolute, "{key:?}");
        }
    }

    #[test]
    fn drive_prefixes_are_refused() {
        assert_eq!(refused("C:"), UnsafeKey::DrivePrefix('C'));
        assert_eq!(refused("C:/Windows/win.ini"), UnsafeKey::DrivePrefix('C'));
        assert_eq!(refused("c:\\x"), UnsafeKey::DrivePrefix('c'));
        assert_eq!(refused("z:relative"), UnsafeKey::DrivePrefix('z'));
    }

    #[test]
    fn dot_segments_are_refused() {
        for (key, dots) in [
            ("../escape", ".."),
            ("..", ".."),
            ("a/../../b", ".."),
            ("a/..", ".."),
            ("a/b/../c", ".."),
            (".", "."),
            ("./a", "."),
            ("a/./b", "."),
            ("a/.", "."),
        ] {
            assert_eq!(refused(key), UnsafeKey::DotSegment(dots), "{key:?}");
        }
    }

    #[test]
    fn empty_segments_are_refused() {
        for key in ["dir/", "a//b", "a/b/", "a///b", "x/y//"] {
            assert_eq!(refused(key), UnsafeKey::EmptySegment, "{key:?}");
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(refused("a\u{0}b"), UnsafeKey::ControlCharacter { character: '\u{0}', index: 1 });
        assert_eq!(refused("\u{0}"), UnsafeKey::ControlCharacter { character: '\u{0}', index: 0 });
        for key in
            ["line\nbreak", "car\rriage", "tab\there", "bell\u{7}", "esc\u{1b}[31m", "del\u{7f}", "c1\u{9b}x", "\u{1f}"]
        {
            assert!(matches!(refused(key), UnsafeKey::ControlCharacter { .. }), "{key:?}");
        }
        // Checked before segments, so a control character is reported even where `..` follows.
        assert!(matches!(refused("a\u{0}/../b"), UnsafeKey::ControlCharacter { index: 1, .. }));
    }

    #[test]
    fn backslashes_are_refused() {
        for key in ["a\\b", "..\\escape", "dir\\..\\..\\x", "trailing\\"] {
            assert_eq!(refused(key), UnsafeKey::Backslash, "{key:?}");
        }
    }

    #[test]
    fn long_segments_are_refused() {
        let long = "x".repeat(MAX_SEGMENT_BYTES + 1);
        assert_eq!(refused(&long), UnsafeKey::SegmentTooLong(256));
        assert_eq!(refused(&format!("dir/{long}/f")), UnsafeKey::SegmentTooLong(256));
        // Bytes, not characters: 128 two-byte letters.
        assert_eq!(refused(&"ü".repeat(128)), UnsafeKey::SegmentTooLong(256));
    }

    #[test]
    fn result_is_built_under_any_download_dir() {
        for download_dir in [Path::new("downloads"), Path::new("."), Path::new(""), Path::new("/tmp/a b/ü")] {
            let path = local_path(download_dir, "x/y.geojson").expect("plain key");
            assert!(path.starts_with(download_dir), "{download_dir:?} → {path:?}");
            assert!(path.ends_with("x/y.geojson"), "{path:?}");
        }
    }

    #[test]
    fn errors_display_on_one_line() {
        let long = "x".repeat(300);
        for key in ["", "/a", "C:x", "a\nb", "a\\b", "..", "a//b", long.as_str()] {
            let text = refused(key).to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{key:?} → {text:?}");
        }
    }

    /// Property-style: every key either is refused or lands strictly inside the download directory, as plain names.
    #[test]
    fn every_key_is_refused_or_stays_inside() {
        let mut keys: Vec<String> = [
            "../escape",
            "/etc/passwd",
            "a/../../b",
            "a\u{0}b",
            "dir/",
            "Missouri Open Loop sample output/SWE 2024-03-01.geojson",
            "snow ü+ice.geojson",
            "..",
            "...",
            "....//....//etc/passwd",
            "..././..././",
            ".../...",
            "%2e%2e/%2e%2e/etc/passwd",
            "..%2f..%2fetc",
            "..%5c..%5c",
            "..\u{2215}etc",
            "\u{FF0E}\u{FF0E}/x",
            "..\u{FF0F}x",
            "C:..\\x",
            "\\\\server\\share\\x",
            "//",
            "./",
            "a/./b",
            "~root/.ssh/authorized_keys",
            "a/b/c/../../../../../../etc/shadow",
            "..\u{0}/x",
            "x/\u{7f}",
            " /..",
            " ../x",
            ".. /x",
            "a/ ..",
            "CON",
            "nul.txt",
            "a:b",
            "\u{202E}txt.exe",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        // Every single character from a few interesting ranges, alone and around separators and dots.
        for code in (0u32..0x100).chain([0x2028, 0x2029, 0xFEFF, 0xFFFD, 0x1F9CA]) {
            let Some(c) = char::from_u32(code) else { continue };
            keys.extend([c.to_string(), format!("{c}/x"), format!("x/{c}"), format!("..{c}"), format!("{c}..")]);
            keys.push(format!("a/{c}{c}/b"));
        }

        let download_dir = dir();
        let depth = download_dir.components().count();
        let mut accepted = 0;
        for key in &keys {
            let Ok(path) = local_path(&download_dir, key) else { continue };
            accepted += 1;
            assert!(path.starts_with(&download_dir), "{key:?} → {path:?}");
            let below: Vec<Component<'_>> = path.components().skip(depth).collect();
            assert!(!below.is_empty(), "{key:?} → {path:?} names the directory itself");
            assert!(below.iter().all(|c| matches!(c, Component::Normal(_))), "{key:?} → {path:?}");
            assert_eq!(below.len(), key.split('/').count(), "{key:?} → {path:?}");
            assert!(!key.contains(['\\', '\0']) && !key.split('/').any(|s| s == ".." || s == "."), "{key:?}");
        }
        // Keep the property meaningful: plenty of keys must get through.
        assert!(accepted > keys.len() / 2, "only {accepted} of {} accepted", keys.len());
    }
}
