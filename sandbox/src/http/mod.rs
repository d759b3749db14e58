//! The front door: one hyper service through which every request passes the same stages —
//! route, then the gate (signature, caller, policy), then its service — and whose answers,
//! errors included, are rendered in the service's own wire format.
//!
//! Routing follows AWS's own wire conventions, so SDKs need no special settings: the sandbox's
//! own paths (`/_sandbox/…`) first; `X-Amz-Target: AmazonSQS.*` → SQS (JSON 1.0); the service
//! named in the SigV4 credential scope (`…/sts/aws4_request`, `sns`, `sqs`) → that service;
//! everything else is S3, which `s3s` speaks.

pub(crate) mod gate;
pub(crate) mod in_process;
pub mod sigv4;

use std::sync::Arc;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use self::gate::{Gate, Service};
use crate::HEALTH_PATH;
use crate::error::AwsError;
use crate::services::query::{Form, error_document};
use crate::services::{sns, sqs, sts};

/// Largest body accepted by the query and JSON services (AWS's own limit for them is 256 KiB of
/// message, plus the request around it).
const MAX_QUERY_BODY: usize = 1024 * 1024;

/// The sandbox's HTTP service. Cheap to clone: one per connection.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    pub(crate) s3: S3Service,
    pub(crate) gate: Gate,
    pub(crate) sts: Arc<sts::Sts>,
    pub(crate) sqs: Arc<sqs::Sqs>,
    pub(crate) sns: Arc<sns::Sns>,
    pub(crate) health: Arc<str>,
}

/// Where a request goes.
enum Route {
    Health,
    S3,
    Sqs(String),
    Query(Service),
}

fn route(req: &Request<Incoming>) -> Route {
    if req.uri().path() == HEALTH_PATH && req.method() == Method::GET {
        return Route::Health;
    }
    if let Some(target) = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok())
        && let Some(operation) = target.strip_prefix("AmazonSQS.")
    {
        return Route::Sqs(operation.to_owned());
    }
    match sigv4::service_of(req.headers(), req.uri().query().unwrap_or_default()).as_deref() {
        Some("sts") => Route::Query(Service::Sts),
        Some("sns") => Route::Query(Service::Sns),
        // SQS's older query protocol: answered in its format, with a pointer to the JSON one.
        Some("sqs") => Route::Query(Service::Sqs),
        _ => Route::S3,
    }
}

impl Router {
    async fn serve(self, req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        let started = std::time::Instant::now();
        let (service, operation) = match route(&req) {
            Route::Health => return Ok(reply(StatusCode::OK, "application/json", self.health.to_string())),
            Route::S3 => return self.s3.call(req.map(Body::from)).await.map(with_s3_message),
            Route::Sqs(operation) => (Service::Sqs, Some(operation)),
            Route::Query(service) => (service, None),
        };
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_QUERY_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let err = AwsError::new("RequestEntityTooLarge", 413, "The request body is larger than 1 MiB.");
                return Ok(render(service, operation.is_some(), Err(err)));
            }
        };
        let answer = match self.gate.admit_signed(service, &parts, &body) {
            Err(err) => Err(err),
            Ok(caller) => {
                let query = parts.uri.query().unwrap_or_default();
                match (service, &operation) {
                    (Service::Sqs, Some(operation)) => {
                        let host = parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok());
                        let base_url = format!("http://{}", host.unwrap_or("127.0.0.1"));
                        self.sqs.handle(operation, &body, &base_url).await
                    }
                    (Service::Sts, _) => self.sts.handle(&Form::new(query, &body), &caller).map(String::into_bytes),
                    (Service::Sns, _) => self.sns.handle(&Form::new(query, &body)).map(String::into_bytes),
                    _ => Err(AwsError::new(
                        "InvalidAction",
                        400,
                        "The sandbox speaks SQS's JSON protocol (X-Amz-Target: AmazonSQS.*), which current SDKs use.",
                    )),
                }
            }
        };
        if let Err(err) = &answer {
            tracing::info!(
                "{} {} answered {} {} in {:?}: {}",
                service.name(),
                operation.as_deref().unwrap_or("call"),
                err.status,
                err.code,
                started.elapsed(),
                err.message
            );
        }
        Ok(render(service, operation.is_some(), answer))
    }
}

/// An S3 error answer that s3s wrote without a `<Message>` (its signature check, its routing),
/// given S3's message: every S3 error carries one, and the aws CLI shows it.
fn with_s3_message(resp: Response<Body>) -> Response<Body> {
    if resp.status().as_u16() < 400 {
        return resp;
    }
    let Some(body) = resp.body().bytes() else { return resp };
    let Ok(xml) = std::str::from_utf8(&body) else { return resp };
    if xml.contains("<Message>") {
        return resp;
    }
    let Some(code) = xml.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map(|(code, _)| code)
    else {
        return resp;
    };
    let message = crate::services::s3::default_message(
        &s3s::S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(s3s::S3ErrorCode::InternalError),
    );
    let escaped = quick_xml::escape::escape(message);
    let rewritten = xml.replacen("</Code>", &format!("</Code><Message>{escaped}</Message>"), 1);
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}

/// An answer in `service`'s wire format: JSON 1.0 for SQS's JSON protocol, query XML otherwise.
fn render(service: Service, json: bool, answer: Result<Vec<u8>, AwsError>) -> Response<Body> {
    const JSON: &str = "application/x-amz-json-1.0";
    match (answer, json) {
        (Ok(body), true) => reply(StatusCode::OK, JSON, body),
        (Ok(body), false) => reply(StatusCode::OK, "text/xml", body),
        (Err(err), true) => {
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            let json_type = err.json_type.map_or_else(|| err.code.to_string(), str::to_owned);
            let body =
                serde_json::json!({ "__type": format!("com.amazonaws.sqs#{json_type}"), "message": err.message });
            let mut resp = reply(status, JSON, body.to_string());
            let fault = if err.is_server_fault() { "Receiver" } else { "Sender" };
            if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", err.code)) {
                resp.headers_mut().insert("x-amzn-query-error", value);
            }
            resp
        }
        (Err(err), false) => {
            let namespace = match service {
                Service::Sns => sns::NAMESPACE,
                Service::Sqs => "http://queue.amazonaws.com/doc/2012-11-05/",
                Service::Sts | Service::S3 => sts::NAMESPACE,
            };
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            reply(status, "text/xml", error_document(namespace, &err))
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response<Body> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

impl hyper::service::Service<Request<Incoming>> for Router {
    type Response = Response<Body>;
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        Box::pin(self.clone().serve(req))
    }
}
