//! The front door: one hyper service that sends each request to the service it is for.
//!
//! Routing follows AWS's own wire conventions, so SDKs need no special settings: the sandbox's
//! own paths (`/_sandbox/…`) first, then the service named in the SigV4 credential scope
//! (`…/sts/aws4_request` → STS; SQS and SNS will join the same way, SQS also by its
//! `X-Amz-Target` header); everything else is S3.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use s3s::auth::{S3Auth, SecretKey};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, HttpError, S3Result, s3_error};

use crate::identity::{Denied, Identities};
use crate::mfa::MfaDevice;
use crate::{Error, HEALTH_PATH, HEALTH_SERVICE_NAME, REGION, sigv4, sns, sqs, sts};

/// Largest body accepted by the query and JSON services (AWS's own limit for them is 256 KiB).
const MAX_QUERY_BODY: usize = 1024 * 1024;

/// The sandbox's HTTP service. Cheap to clone: one per connection.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    s3: S3Service,
    identities: Arc<Identities>,
    sqs: Arc<sqs::Sqs>,
    sns: Arc<sns::Sns>,
    mfa: MfaDevice,
    lifetimes: sts::Lifetimes,
    health: Arc<str>,
}

/// What the router needs to know besides the data directory.
#[derive(Debug, Clone)]
pub(crate) struct RouterSettings {
    pub(crate) standalone: bool,
    pub(crate) require_mfa: bool,
    pub(crate) mfa: MfaDevice,
    pub(crate) min_session_seconds: u64,
    pub(crate) sqs: Arc<sqs::Sqs>,
    pub(crate) sns: Arc<sns::Sns>,
    pub(crate) notifications: Arc<crate::notify::Notifications>,
}

impl Router {
    pub(crate) fn new(data_dir: &Path, settings: RouterSettings) -> Result<Self, Error> {
        let store = s3s_fs::FileSystem::new(data_dir)
            .map_err(|err| Error::Store { path: data_dir.to_path_buf(), message: format!("{err:?}") })?;
        let identities = Arc::new(Identities::load(data_dir, settings.require_mfa));
        let mut s3 =
            S3ServiceBuilder::new(crate::s3::SandboxS3::new(store, data_dir.to_path_buf(), settings.notifications));
        s3.set_auth(SandboxAuth(identities.clone()));
        s3.set_access(SandboxAccess(identities.clone()));
        let health = serde_json::json!({
            "service": HEALTH_SERVICE_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "region": REGION,
            "services": ["s3", "sts", "sqs", "sns"],
            "data_dir": data_dir,
            "standalone": settings.standalone,
            "require_mfa": settings.require_mfa,
            "mfa_serial": crate::identity::MFA_SERIAL,
            "pid": std::process::id(),
        });
        Ok(Self {
            s3: s3.build(),
            identities,
            sqs: settings.sqs,
            sns: settings.sns,
            mfa: settings.mfa,
            lifetimes: sts::Lifetimes { min: settings.min_session_seconds },
            health: health.to_string().into(),
        })
    }

    async fn route(self, req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        if req.uri().path() == HEALTH_PATH && req.method() == Method::GET {
            return Ok(text_response(StatusCode::OK, "application/json", self.health.to_string()));
        }
        if let Some(target) = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok())
            && let Some(operation) = target.strip_prefix("AmazonSQS.")
        {
            let operation = operation.to_owned();
            return Ok(self.sqs(req, &operation).await);
        }
        match sigv4::service_of(req.headers()).as_deref() {
            Some("sts") => return Ok(self.query(req, "sts").await),
            Some("sns") => return Ok(self.query(req, "sns").await),
            _ => {}
        }
        self.s3.call(req.map(Body::from)).await
    }

    /// STS and SNS over the query protocol: signature, caller, MFA policy, then the action.
    async fn query(&self, req: Request<Incoming>, service: &str) -> Response<Body> {
        let namespace = if service == "sns" { sns::NAMESPACE } else { sts::NAMESPACE };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_QUERY_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let err = sts::StsError::from(Denied::AccessDenied("request body too large or unreadable".into()));
                return xml_reply(err.into_reply(namespace));
            }
        };
        let query = parts.uri.query().unwrap_or_default();
        let authenticated =
            sigv4::verify(parts.method.as_str(), parts.uri.path(), query, &parts.headers, &body, |key| {
                self.identities.secret_for(key)
            })
            .and_then(|auth| {
                let token = parts.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());
                self.identities.authenticate(&auth.access_key_id, token)
            });
        let caller = match authenticated {
            Ok(caller) => caller,
            Err(denied) => return xml_reply(sts::StsError::from(denied).into_reply(sts::NAMESPACE)),
        };
        // Parameters come in the form body (POST) or the query string (GET), as on AWS.
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(&body))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        tracing::debug!(service, action = params.get("Action").map(String::as_str), caller = %caller.arn, "call");
        if service == "sns" {
            return xml_reply(self.sns.handle(&params));
        }
        xml_reply(sts::handle(&params, &caller, &self.identities, &self.mfa, self.lifetimes))
    }
}

impl Router {
    /// SQS over the JSON 1.0 protocol: signature, caller, MFA policy, then the operation.
    async fn sqs(&self, req: Request<Incoming>, operation: &str) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_QUERY_BODY).collect().await.map(|c| c.to_bytes()) else {
            return sqs_error(&sqs::SqsError::auth("InvalidParameterValue", "request body too large".into()));
        };
        let authorized = sigv4::verify(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            &parts.headers,
            &body,
            |key| self.identities.secret_for(key),
        )
        .and_then(|auth| {
            let token = parts.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());
            self.identities.authenticate(&auth.access_key_id, token)
        })
        .and_then(|caller| self.identities.authorize(&caller, "sqs"));
        if let Err(denied) = authorized {
            let refused = crate::query::QueryError::from(denied);
            return sqs_error(&sqs::SqsError::auth(refused.code, refused.message));
        }
        let params: serde_json::Value = if body.is_empty() {
            serde_json::json!({})
        } else {
            match serde_json::from_slice(&body) {
                Ok(params) => params,
                Err(err) => {
                    return sqs_error(&sqs::SqsError::auth("SerializationException", format!("invalid JSON: {err}")));
                }
            }
        };
        let host = parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let base_url = format!("http://{host}");
        match self.sqs.handle(operation, &params, &base_url).await {
            Ok(reply) => text_response(StatusCode::OK, "application/x-amz-json-1.0", reply.to_string()),
            Err(err) => sqs_error(&err),
        }
    }
}

fn sqs_error(err: &sqs::SqsError) -> Response<Body> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = text_response(status, "application/x-amz-json-1.0", err.body());
    if let Ok(value) = hyper::header::HeaderValue::from_str(&format!("{};Sender", err.query_code)) {
        resp.headers_mut().insert("x-amzn-query-error", value);
    }
    resp
}

fn xml_reply(reply: crate::query::Reply) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text_response(status, "text/xml", reply.body)
}

fn text_response(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    resp
}

impl hyper::service::Service<Request<Incoming>> for Router {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        Box::pin(self.clone().route(req))
    }
}

/// S3's signature check takes secrets from the sandbox's identities: long-term keys and live
/// STS sessions.
struct SandboxAuth(Arc<Identities>);

#[async_trait::async_trait]
impl S3Auth for SandboxAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.secret_for(access_key) {
            Ok(secret) => Ok(SecretKey::from(secret)),
            Err(Denied::Expired) => Err(s3_error!(ExpiredToken, "The provided token has expired.")),
            Err(_) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

/// After the signature: a session's token must match, and the MFA policy must allow the call.
struct SandboxAccess(Arc<Identities>);

#[async_trait::async_trait]
impl s3s::access::S3Access for SandboxAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed; sign the request"));
        };
        let access_key = credentials.access_key.clone();
        let token =
            cx.headers().get("x-amz-security-token").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
                cx.uri().query().and_then(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "X-Amz-Security-Token")
                        .map(|(_, v)| v.into_owned())
                })
            });
        let caller = self.0.authenticate(&access_key, token.as_deref()).map_err(|denied| match denied {
            Denied::Expired => s3_error!(ExpiredToken, "The provided token has expired."),
            Denied::BadToken => s3_error!(InvalidToken, "The provided token is malformed or otherwise invalid."),
            _ => s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."),
        })?;
        self.0
            .authorize(&caller, "s3")
            .map_err(|denied| s3s::S3Error::with_message(s3s::S3ErrorCode::AccessDenied, denied.to_string()))
    }
}
