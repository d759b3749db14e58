//! The long-term keys a sandbox accepts.
//!
//! On loopback it accepts the well-known pairs, `test`/`test` (the LocalStack convention) and the
//! MFA-exempt application key `sos-app`/`sos-app-secret`: only programs on this machine can reach
//! it, and every tool's documentation names those keys. Listening beyond loopback (`--host
//! 0.0.0.0`, a lab network, a shared login node), it accepts a pair of its own instead, made at
//! its first such start from the operating system's randomness and kept in the data directory
//! (`.sandbox.keys`, mode 0600, kept by `--reset`), so that reaching the port is not enough to
//! read and write everything.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use conventions::{
    SANDBOX_ACCESS_KEY_ID, SANDBOX_APP_ACCESS_KEY_ID, SANDBOX_APP_SECRET_ACCESS_KEY, SANDBOX_SECRET_ACCESS_KEY,
};

/// The file in the data directory that holds the keys of a sandbox listening beyond loopback.
pub const KEYS_FILE: &str = ".sandbox.keys";

/// An access key id and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// The access key id (`AKIA…` for generated keys).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// The sandbox's two long-term keys: its user's, and the MFA-exempt application account's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongTermKeys {
    /// The user's key (`test` on loopback); with `--require-mfa` it may call only STS.
    pub user: KeyPair,
    /// The application account's key (`sos-app` on loopback), exempt from the MFA requirement.
    pub app: KeyPair,
}

/// Why the keys could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The keys file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The keys file is not what the sandbox writes.
    #[error("{} is not a sandbox keys file ({source}); delete it to get new keys", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: serde_json::Error,
    },
    /// The operating system gave no randomness to make keys from.
    #[error("no randomness from the operating system to make keys with: {0}")]
    Random(getrandom::Error),
}

impl LongTermKeys {
    /// The well-known keys of a sandbox on loopback: `test`/`test` and `sos-app`/`sos-app-secret`.
    pub fn well_known() -> Self {
        let pair =
            |id: &str, secret: &str| KeyPair { access_key_id: id.to_owned(), secret_access_key: secret.to_owned() };
        Self {
            user: pair(SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY),
            app: pair(SANDBOX_APP_ACCESS_KEY_ID, SANDBOX_APP_SECRET_ACCESS_KEY),
        }
    }

    /// The keys for a sandbox listening on `host` with its data in `data_dir`: the well-known
    /// ones on a loopback address, else its own (see [`LongTermKeys::own`]).
    pub fn for_host(host: IpAddr, data_dir: &Path) -> Result<Self, KeysError> {
        if listens_beyond_loopback(host) { Self::own(data_dir) } else { Ok(Self::well_known()) }
    }

    /// The data directory's own keys: read from [`KEYS_FILE`], or made and written there (mode
    /// 0600) the first time.
    pub fn own(data_dir: &Path) -> Result<Self, KeysError> {
        let path = data_dir.join(KEYS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => return serde_json::from_slice(&bytes).map_err(|source| KeysError::Malformed { path, source }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(KeysError::Io { action: "reading", path, source }),
        }
        let keys = Self { user: KeyPair::generate()?, app: KeyPair::generate()? };
        keys.write_new(&path)?;
        Ok(keys)
    }

    /// Writes the keys to a new file at `path`, readable by its owner only. If another process
    /// made the file first, its keys win.
    fn write_new(&self, path: &Path) -> Result<(), KeysError> {
        let io = |action| move |source| KeysError::Io { action, path: path.to_path_buf(), source };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io("creating the directory of"))?;
        let tmp = dir.join(format!("{KEYS_FILE}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io("writing"))?;
        let json =
            serde_json::to_vec_pretty(self).map_err(|source| KeysError::Malformed { path: tmp.clone(), source })?;
        file.write_all(&json).and_then(|()| file.sync_all()).map_err(io("writing"))?;
        // A hard link fails if the file exists: the first process to make the keys wins.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(source) => Err(KeysError::Io { action: "writing", path: path.to_path_buf(), source }),
        }
    }

    /// Whether these are the well-known loopback keys.
    pub fn are_well_known(&self) -> bool {
        *self == Self::well_known()
    }
}

impl KeyPair {
    /// A new key pair: `AKIA` and 16 characters of base32, and a 40-character secret, as AWS's
    /// look; from the operating system's randomness, or an error (never a weaker source).
    fn generate() -> Result<Self, KeysError> {
        const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        // 256 is a multiple of both alphabets' sizes, so every character is equally likely.
        let pick = |alphabet: &[u8], n: usize| -> Result<String, KeysError> {
            let mut bytes = vec![0u8; n];
            getrandom::fill(&mut bytes).map_err(KeysError::Random)?;
            Ok(bytes.iter().map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()])).collect())
        };
        Ok(Self { access_key_id: format!("AKIA{}", pick(BASE32, 16)?), secret_access_key: pick(BASE64, 40)? })
    }
}

/// Whether a sandbox listening on `host` can be reached from beyond this machine: any address
/// but a loopback one. The unspecified address (`0.0.0.0`, `::`) listens on every interface, so
/// it counts as beyond loopback even for the clients that reach it through 127.0.0.1.
pub fn listens_beyond_loopback(host: IpAddr) -> bool {
    !host.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_keep_the_well_known_keys() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(!listens_beyond_loopback(host.parse().expect("ip")), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "fe80::1"] {
            assert!(listens_beyond_loopback(host.parse().expect("ip")), "{host}");
        }
    }

    #[test]
    fn own_keys_are_made_once_kept_0600_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let first = LongTermKeys::own(dir.path()).expect("made");
        assert!(first.user.access_key_id.starts_with("AKIA") && first.user.access_key_id.len() == 20);
        assert_eq!(first.user.secret_access_key.len(), 40);
        assert_ne!(first.user, first.app);
        assert!(!first.are_well_known());
        assert_eq!(LongTermKeys::own(dir.path()).expect("read"), first, "the same keys on the next start");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEYS_FILE)).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().expect("dir");
        assert_ne!(LongTermKeys::own(other.path()).expect("made"), first, "each data directory its own");
    }

    #[test]
    fn the_secret_is_not_in_the_debug_output() {
        let keys = LongTermKeys::well_known();
        let shown = format!("{keys:?}");
        assert!(shown.contains("test") && !shown.contains("sos-app-secret"), "{shown}");
    }
}
