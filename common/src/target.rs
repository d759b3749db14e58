//! Where an example sends its requests: an explicit endpoint, the local sandbox, or AWS — chosen
//! ([`TargetChoice`]) without any network call, then resolved ([`Target`]) by `connect`.
//!
//! The choice (ARCHITECTURE.md, "Where requests go") is made once, from flags and the environment, without any network
//! call to AWS (no instance-metadata probing):
//!
//! 1. `--endpoint-url` / `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` → that endpoint.
//! 2. `--sandbox`, or no AWS configuration at all → the sandbox: a running one at
//!    `SOS_SANDBOX_URL` (default `http://127.0.0.1:4566`) if it answers its health check, else
//!    one started in this process.
//! 3. Otherwise → AWS through the SDK's default chain.

use std::path::PathBuf;

use crate::settings::{CommonArgs, non_empty_env};

pub use conventions::{SANDBOX_URL as DEFAULT_SANDBOX_URL, SANDBOX_URL_ENV};

/// The variables that, when set, mean the user has configured AWS credentials or a profile.
const AWS_CONFIG_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// Where requests go, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An endpoint named by the user.
    Endpoint {
        /// Its URL.
        url: String,
        /// The flag or variable it came from (`AWS_ENDPOINT_URL in ./.env` when from a `.env` file).
        source: String,
    },
    /// A sandbox.
    Sandbox {
        /// Its URL.
        url: String,
        /// Started inside this process (else: found running).
        embedded: bool,
        /// Why the sandbox was chosen.
        reason: SandboxReason,
        /// Where its data lives, when this process knows.
        data_dir: Option<std::path::PathBuf>,
    },
    /// AWS itself.
    Aws {
        /// The profile named on the command line or by `AWS_PROFILE`, if any.
        profile: Option<String>,
    },
}

/// The decision of step 1–3, before anything is started or contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChoice {
    /// An explicit endpoint; `source` names where it came from (a flag, a variable, or a
    /// variable in a `.env` file: `AWS_ENDPOINT_URL in ./.env`).
    Endpoint { url: String, source: String },
    /// The sandbox; `reason` says why.
    Sandbox { reason: SandboxReason },
    /// AWS through the SDK's default chain.
    Aws,
}

/// Why the sandbox was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxReason {
    /// `--sandbox` or `SOS_SANDBOX`.
    Asked,
    /// No credentials, profile or AWS config file was found.
    NoAwsConfiguration,
}

impl TargetChoice {
    /// Chooses from the parsed flags and the process environment.
    pub fn from_args(args: &CommonArgs) -> Self {
        let mut choice = Self::choose(args, non_empty_env, aws_files_exist());
        if let Self::Endpoint { source, .. } = &mut choice
            && source != "--endpoint-url"
        {
            *source = crate::settings::describe_variable(source);
        }
        choice
    }

    /// The pure decision: `env` looks up a variable, `aws_files` says whether an AWS config or
    /// credentials file exists.
    pub fn choose(args: &CommonArgs, env: impl Fn(&str) -> Option<String>, aws_files: bool) -> Self {
        if let Some(url) = args.endpoint_url.clone().filter(|u| !u.trim().is_empty()) {
            // clap fills `endpoint_url` from AWS_ENDPOINT_URL too; tell the two apart for the
            // announcement.
            let source = if env("AWS_ENDPOINT_URL").as_deref() == Some(url.as_str()) {
                "AWS_ENDPOINT_URL"
            } else {
                "--endpoint-url"
            };
            return Self::Endpoint { url, source: source.to_owned() };
        }
        if let Some(url) = env("AWS_ENDPOINT_URL_S3") {
            return Self::Endpoint { url, source: "AWS_ENDPOINT_URL_S3".to_owned() };
        }
        if args.sandbox {
            return Self::Sandbox { reason: SandboxReason::Asked };
        }
        if aws_configured(args.profile.is_some(), env, aws_files) {
            Self::Aws
        } else {
            Self::Sandbox { reason: SandboxReason::NoAwsConfiguration }
        }
    }
}

/// Whether the user has configured AWS in any way the SDK's default chain would use: a profile
/// flag, a credential or profile variable, or an AWS config or credentials file.
pub fn aws_configured(profile_flag: bool, env: impl Fn(&str) -> Option<String>, aws_files: bool) -> bool {
    profile_flag || aws_files || AWS_CONFIG_VARS.iter().any(|v| env(v).is_some())
}

/// [`aws_configured`] for this process's environment and home directory.
pub fn aws_configured_here(profile_flag: bool) -> bool {
    aws_configured(profile_flag, non_empty_env, aws_files_exist())
}

/// Whether `~/.aws/config` or `~/.aws/credentials` (or the files `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE` name) exist.
pub fn aws_files_exist() -> bool {
    let home_file = |name: &str| dirs::home_dir().map(|h| h.join(".aws").join(name));
    let config = non_empty_env("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| home_file("config"));
    let credentials =
        non_empty_env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| home_file("credentials"));
    [config, credentials].into_iter().flatten().any(|p| p.is_file())
}

/// The sandbox URL to look for a running sandbox at.
pub fn sandbox_url() -> String {
    non_empty_env(SANDBOX_URL_ENV).unwrap_or_else(|| DEFAULT_SANDBOX_URL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn nothing_configured_chooses_the_sandbox() {
        let choice = TargetChoice::choose(&CommonArgs::default(), env_of(&[]), false);
        assert_eq!(choice, TargetChoice::Sandbox { reason: SandboxReason::NoAwsConfiguration });
    }

    #[test]
    fn an_aws_config_file_chooses_aws() {
        assert_eq!(TargetChoice::choose(&CommonArgs::default(), env_of(&[]), true), TargetChoice::Aws);
    }

    #[test]
    fn each_credential_variable_chooses_aws() {
        for var in AWS_CONFIG_VARS {
            let env = move |name: &str| (name == *var).then(|| "x".to_owned());
            assert_eq!(TargetChoice::choose(&CommonArgs::default(), env, false), TargetChoice::Aws, "{var}");
        }
    }

    #[test]
    fn a_profile_flag_chooses_aws() {
        let args = CommonArgs { profile: Some("sos".into()), ..CommonArgs::default() };
        assert_eq!(TargetChoice::choose(&args, env_of(&[]), false), TargetChoice::Aws);
    }

    #[test]
    fn sandbox_flag_wins_over_aws_configuration() {
        let args = CommonArgs { sandbox: true, ..CommonArgs::default() };
        let choice = TargetChoice::choose(&args, env_of(&[("AWS_ACCESS_KEY_ID", "AKIA")]), true);
        assert_eq!(choice, TargetChoice::Sandbox { reason: SandboxReason::Asked });
    }

    #[test]
    fn endpoint_wins_over_everything_and_names_its_source() {
        let args = CommonArgs { endpoint_url: Some("http://h:1".into()), sandbox: true, ..CommonArgs::default() };
        let choice = TargetChoice::choose(&args, env_of(&[]), true);
        assert_eq!(choice, TargetChoice::Endpoint { url: "http://h:1".into(), source: "--endpoint-url".into() });

        let from_env = TargetChoice::choose(&args, env_of(&[("AWS_ENDPOINT_URL", "http://h:1")]), true);
        assert_eq!(from_env, TargetChoice::Endpoint { url: "http://h:1".into(), source: "AWS_ENDPOINT_URL".into() });

        let s3_only =
            TargetChoice::choose(&CommonArgs::default(), env_of(&[("AWS_ENDPOINT_URL_S3", "http://s3:9")]), true);
        assert_eq!(s3_only, TargetChoice::Endpoint { url: "http://s3:9".into(), source: "AWS_ENDPOINT_URL_S3".into() });
    }
}
