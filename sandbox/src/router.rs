//! The front door: one hyper service that sends each request to the service it is for.
//!
//! Routing follows AWS's own wire conventions, so SDKs need no special settings: the sandbox's
//! own paths (`/_sandbox/…`) first, then (as services are added) the `X-Amz-Target` header and
//! the service named in the SigV4 credential scope; everything else is S3.

use std::path::Path;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, HttpError};

use crate::{ACCESS_KEY_ID, Error, HEALTH_PATH, HEALTH_SERVICE_NAME, REGION, SECRET_ACCESS_KEY};

/// The sandbox's HTTP service. Cheap to clone: one per connection.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    s3: S3Service,
    health: Arc<str>,
}

impl Router {
    pub(crate) fn new(data_dir: &Path, standalone: bool) -> Result<Self, Error> {
        let store = s3s_fs::FileSystem::new(data_dir)
            .map_err(|err| Error::Store { path: data_dir.to_path_buf(), message: format!("{err:?}") })?;
        let mut s3 = S3ServiceBuilder::new(crate::s3::SandboxS3::new(store));
        s3.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
        let health = serde_json::json!({
            "service": HEALTH_SERVICE_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "region": REGION,
            "services": ["s3"],
            "data_dir": data_dir,
            "standalone": standalone,
            "pid": std::process::id(),
        });
        Ok(Self { s3: s3.build(), health: health.to_string().into() })
    }

    async fn route(self, req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        if req.uri().path() == HEALTH_PATH && req.method() == Method::GET {
            return Ok(json_response(&self.health));
        }
        self.s3.call(req.map(Body::from)).await
    }
}

fn json_response(json: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(json.to_owned()));
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
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
