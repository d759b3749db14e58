//! Bucket CORS: Put, Get and DeleteBucketCors, and S3's answer to a browser's preflight
//! `OPTIONS` request by the bucket's rules (the user guide's "How does Amazon S3 evaluate the
//! CORS configuration on a bucket?": the first rule whose origins, methods and headers all match).

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::lifecycle::{from_xml, to_xml};
use super::{SandboxS3, refused};
use crate::error::AwsError;
use crate::state::objects::bucket_config::Kind;
use crate::state::objects::{ObjectError, ObjectStore};

/// At most this many rules in a configuration.
const MAX_RULES: usize = 100;
/// The methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

fn invalid_request(message: String) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, message)
}

/// The API reference's rules for a CORS configuration.
fn check(config: &CORSConfiguration) -> S3Result<()> {
    if config.cors_rules.is_empty() || config.cors_rules.len() > MAX_RULES {
        return Err(super::s3_error(S3ErrorCode::MalformedXML));
    }
    for rule in &config.cors_rules {
        if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
            return Err(super::s3_error(S3ErrorCode::MalformedXML));
        }
        if let Some(method) = rule.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(invalid_request(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )));
        }
        for origin in &rule.allowed_origins {
            if origin.matches('*').count() > 1 {
                return Err(invalid_request(format!(
                    "AllowedOrigin \"{origin}\" can not have more than one wildcard."
                )));
            }
        }
    }
    Ok(())
}

/// Whether `value` matches `pattern`, which may hold one `*` (any run of characters).
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((start, end)) => {
            value.len() >= start.len() + end.len() && value.starts_with(start) && value.ends_with(end)
        }
    }
}

/// A 403 `AccessForbidden` of a preflight request.
fn forbidden(message: &str) -> AwsError {
    AwsError::new("AccessForbidden", 403, format!("CORSResponse: {message}"))
}

fn bad_request(message: &str) -> AwsError {
    AwsError::new("BadRequest", 400, message)
}

/// S3's answer to a preflight request on `bucket` with these headers: the response headers, or
/// S3's refusal.
pub(crate) fn preflight(
    store: &ObjectStore,
    bucket: &str,
    headers: &http::HeaderMap,
) -> Result<http::HeaderMap, AwsError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(origin) = header("origin") else {
        return Err(bad_request("Insufficient information. Origin request header needed."));
    };
    let Some(method) = header("access-control-request-method") else {
        return Err(bad_request("Invalid Access-Control-Request-Method: null"));
    };
    let requested: Vec<String> = header("access-control-request-headers")
        .map(|h| h.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let xml = match store.bucket_config(bucket, Kind::Cors) {
        Ok(Some(xml)) => xml,
        Ok(None) => return Err(forbidden("CORS is not enabled for this bucket.")),
        Err(ObjectError::NoSuchBucket) => {
            return Err(AwsError::new("NoSuchBucket", 404, format!("The specified bucket does not exist: {bucket}")));
        }
        Err(err) => return Err(AwsError::internal(err.to_string())),
    };
    let config: CORSConfiguration =
        from_xml(&xml).map_err(|err| AwsError::internal(err.message().unwrap_or_default().to_owned()))?;
    let rule = config.cors_rules.iter().find(|rule| {
        rule.allowed_origins.iter().any(|o| wildcard(o, origin))
            && rule.allowed_methods.iter().any(|m| m.as_str() == method)
            && requested.iter().all(|h| {
                rule.allowed_headers.iter().flatten().any(|allowed| wildcard(&allowed.to_ascii_lowercase(), h))
            })
    });
    let Some(rule) = rule else {
        return Err(forbidden(
            "This CORS request is not allowed. This is usually because the evalution of Origin, request method / \
             Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's \
             CORS spec.",
        ));
    };
    let mut out = http::HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    set("access-control-allow-origin", if any_origin { "*".to_owned() } else { origin.to_owned() });
    let methods: Vec<&str> = rule.allowed_methods.iter().map(String::as_str).collect();
    set("access-control-allow-methods", methods.join(", "));
    if !requested.is_empty() {
        set("access-control-allow-headers", requested.join(", "));
    }
    if let Some(expose) = rule.expose_headers.as_ref().filter(|e| !e.is_empty()) {
        set("access-control-expose-headers", expose.join(", "));
    }
    if let Some(age) = rule.max_age_seconds {
        set("access-control-max-age", age.to_string());
    }
    if !any_origin {
        set("access-control-allow-credentials", "true".to_owned());
    }
    set("vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned());
    Ok(out)
}

impl SandboxS3 {
    pub(super) fn put_cors(&self, input: PutBucketCorsInput) -> S3Result<PutBucketCorsOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        check(&input.cors_configuration)?;
        let xml = to_xml(&input.cors_configuration)?;
        self.store.set_bucket_config(bucket, Kind::Cors, Some(&xml)).map_err(|err| refused(bucket, err))?;
        Ok(PutBucketCorsOutput::default())
    }

    pub(super) fn get_cors(&self, input: GetBucketCorsInput) -> S3Result<GetBucketCorsOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        let Some(xml) = self.store.bucket_config(bucket, Kind::Cors).map_err(|err| refused(bucket, err))? else {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchCORSConfiguration,
                "The CORS configuration does not exist".to_owned(),
            ));
        };
        let config: CORSConfiguration = from_xml(&xml)?;
        Ok(GetBucketCorsOutput { cors_rules: Some(config.cors_rules) })
    }

    pub(super) fn delete_cors(&self, input: DeleteBucketCorsInput) -> S3Result<DeleteBucketCorsOutput> {
        let bucket = &input.bucket;
        self.check_bucket(bucket)?;
        self.store.set_bucket_config(bucket, Kind::Cors, None).map_err(|err| refused(bucket, err))?;
        Ok(DeleteBucketCorsOutput::default())
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn origins_match_with_one_wildcard() {
        assert!(wildcard("*", "http://anything"));
        assert!(wildcard("http://*.example.com", "http://www.example.com"));
        assert!(!wildcard("http://*.example.com", "https://www.example.com"));
        assert!(wildcard("http://localhost:8080", "http://localhost:8080"));
        assert!(!wildcard("http://localhost:8080", "http://localhost:8081"));
        assert!(!wildcard("ab*ba", "aba"), "the ends must not overlap");
    }
}
