//! The sandbox's virtual MFA device: TOTP per RFC 6238 (HMAC-SHA-1, 30 s steps, 6 digits), the
//! kind of device a phone authenticator app holds. A code is accepted one step early or late,
//! as AWS does, to allow for clock drift.

use std::time::{SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Builder, Secret, Totp};

use conventions::SANDBOX_MFA_SERIAL as MFA_SERIAL;

/// The device's secret unless `--mfa-secret` / `SOS_SANDBOX_MFA_SECRET` gives another (base32,
/// at least 16 bytes once decoded).
pub const DEFAULT_MFA_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// Why a secret cannot make a device.
#[derive(Debug, thiserror::Error)]
#[error("the MFA secret must be base32 (A–Z, 2–7) of at least 16 bytes: {0}")]
pub struct BadSecret(String);

/// A virtual MFA device.
#[derive(Debug, Clone)]
pub struct MfaDevice {
    totp: Totp,
}

impl MfaDevice {
    /// A device with a base32 `secret`.
    pub fn new(secret: &str) -> Result<Self, BadSecret> {
        let secret =
            Secret::try_from_base32(secret.trim().to_ascii_uppercase()).map_err(|e| BadSecret(e.to_string()))?;
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(30)
            .with_secret(secret)
            .with_issuer(Some("SOS sandbox"))
            .with_account_name(MFA_SERIAL.rsplit('/').next().unwrap_or("sandbox"))
            .build()
            .map_err(|e| BadSecret(e.to_string()))?;
        Ok(Self { totp })
    }

    /// The code shown at Unix time `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.totp.generate(unix_secs).to_string()
    }

    /// The code shown now.
    pub fn current_code(&self) -> String {
        self.code_at(now())
    }

    /// Whether `code` is valid now (this step, or the one before or after).
    pub fn verify(&self, code: &str) -> bool {
        self.totp.check(code, now()).is_some()
    }

    /// Seconds until the current code changes.
    pub fn seconds_left(&self) -> u64 {
        30 - now() % 30
    }

    /// The `otpauth://` URI that authenticator apps import (as text or as a QR code).
    pub fn otpauth_uri(&self) -> String {
        self.totp.to_url().unwrap_or_default()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the secret is ASCII "12345678901234567890"; the RFC's
    /// 8-digit codes end in the 6 digits a 6-digit device shows.
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = Secret::from(b"12345678901234567890".as_slice()).to_base32();
        let device = MfaDevice::new(&secret).expect("valid secret");
        for (time, rfc_code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(device.code_at(time), rfc_code[2..], "T = {time}");
        }
    }

    #[test]
    fn the_current_code_verifies_and_a_wrong_one_does_not() {
        let device = MfaDevice::new(DEFAULT_MFA_SECRET).expect("valid");
        let code = device.current_code();
        assert_eq!(code.len(), 6);
        assert!(device.verify(&code));
        let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 500_000) % 1_000_000);
        assert!(!device.verify(&wrong));
        assert!(!device.verify(&device.code_at(now() - 300)), "a stale code is refused");
    }

    #[test]
    fn the_otpauth_uri_names_the_device() {
        let uri = MfaDevice::new(DEFAULT_MFA_SECRET).expect("valid").otpauth_uri();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={DEFAULT_MFA_SECRET}")), "{uri}");
    }

    #[test]
    fn a_short_or_malformed_secret_is_refused() {
        assert!(MfaDevice::new("not base32 !!").is_err());
        assert!(MfaDevice::new("JBSWY3DP").is_err(), "5 bytes is too short");
    }
}
