//! Bucket lifecycle configurations: Put, Get and DeleteBucketLifecycle(Configuration), with the
//! API reference's checks on the rules. The sandbox keeps a configuration and answers with it;
//! it does not run the rules (nothing expires or moves in the sandbox — a program that counts on
//! an expiry must be tested on AWS).

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::{SandboxS3, internal, refused};
use crate::state::objects::bucket_config::Kind;

/// At most this many rules in a configuration.
const MAX_RULES: usize = 1000;

fn invalid_argument(message: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message.into())
}

/// The API reference's rules for a lifecycle configuration.
fn check(config: &BucketLifecycleConfiguration) -> S3Result<()> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(super::s3_error(S3ErrorCode::MalformedXML));
    }
    let mut ids = std::collections::HashSet::new();
    for rule in &config.rules {
        if !matches!(rule.status.as_str(), "Enabled" | "Disabled") {
            return Err(super::s3_error(S3ErrorCode::MalformedXML));
        }
        if let Some(id) = &rule.id {
            if id.len() > 255 {
                return Err(invalid_argument("ID length should not exceed allowed limit of 255"));
            }
            if !ids.insert(id.clone()) {
                return Err(invalid_argument("Rule ID must be unique. Found same ID for more than one rule"));
            }
        }
        if let Some(expiration) = &rule.expiration
            && expiration.days.is_some_and(|d| d <= 0)
        {
            return Err(invalid_argument("'Days' for Expiration action must be a positive integer"));
        }
        if let Some(noncurrent) = &rule.noncurrent_version_expiration
            && noncurrent.noncurrent_days.is_some_and(|d| d <= 0)
        {
            return Err(invalid_argument(
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            ));
        }
        let actions = rule.expiration.is_some()
            || rule.noncurrent_version_expiration.is_some()
            || rule.abort_incomplete_multipart_upload.is_some()
            || rule.transitions.as_ref().is_some_and(|t| !t.is_empty())
            || rule.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty());
        if !actions {
            return Err(invalid_argument("At least one action needs to be specified in a rule"));
        }
    }
    Ok(())
}

/// A bucket configuration as S3's XML, the form it is stored in.
pub(super) fn to_xml<T: s3s::xml::Serialize>(config: &T) -> S3Result<String> {
    let mut buf = Vec::new();
    let mut ser = s3s::xml::Serializer::new(&mut buf);
    config.serialize(&mut ser).map_err(|err| internal(format!("cannot encode the configuration: {err:?}")))?;
    String::from_utf8(buf).map_err(|err| internal(err.to_string()))
}

/// A stored bucket configuration, read back.
pub(super) fn from_xml<T: for<'xml> s3s::xml::Deserialize<'xml>>(xml: &str) -> S3Result<T> {
    let mut de = s3s::xml::Deserializer::new(xml.as_bytes());
    T::deserialize(&mut de).map_err(|err| internal(format!("a stored configuration does not read back: {err:?}")))
}

impl SandboxS3 {
    pub(super) fn put_lifecycle(
        &self,
        input: PutBucketLifecycleConfigurationInput,
    ) -> S3Result<PutBucketLifecycleConfigurationOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        let Some(config) = input.lifecycle_configuration else {
            return Err(super::s3_error(S3ErrorCode::MalformedXML));
        };
        check(&config)?;
        let xml = to_xml(&config)?;
        self.store.set_bucket_config(bucket, Kind::Lifecycle, Some(&xml)).map_err(|err| refused(bucket, err))?;
        Ok(PutBucketLifecycleConfigurationOutput::default())
    }

    pub(super) fn get_lifecycle(
        &self,
        input: GetBucketLifecycleConfigurationInput,
    ) -> S3Result<GetBucketLifecycleConfigurationOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        let Some(xml) = self.store.bucket_config(bucket, Kind::Lifecycle).map_err(|err| refused(bucket, err))? else {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist".to_owned(),
            ));
        };
        let config: BucketLifecycleConfiguration = from_xml(&xml)?;
        Ok(GetBucketLifecycleConfigurationOutput { rules: Some(config.rules), ..Default::default() })
    }

    pub(super) fn delete_lifecycle(&self, input: DeleteBucketLifecycleInput) -> S3Result<DeleteBucketLifecycleOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        self.store.set_bucket_config(bucket, Kind::Lifecycle, None).map_err(|err| refused(bucket, err))?;
        Ok(DeleteBucketLifecycleOutput::default())
    }
}
