//! The front door: one hyper service through which every request passes the same stages —
//! route, then the gate (signature, caller, policy), then its service — and whose answers,
//! errors included, are rendered in the service's own wire format.
//!
//! Routing follows AWS's own wire conventions, so SDKs need no special settings: the sandbox's
//! own paths (`/_sandbox/…`) first; `X-Amz-Target: AmazonSQS.*` → SQS (JSON 1.0); the service
//! named in the SigV4 credential scope (`…/sts/aws4_request`, `sns`, `sqs`) → that service;
//! everything else is S3, which `s3s` speaks.
//!
//! Faults on demand ([`chaos`]) are consulted once for every request of every service: before the
//! gate (a throttled request is refused whoever sends it; for S3, once s3s has checked the
//! signature, since s3s names the operation only then) or, for `after` rules, once the service has
//! done the work; the answer is the service's own error format either way.

pub mod chaos;
pub(crate) mod gate;
pub(crate) mod in_process;
pub mod sigv4;

use std::net::SocketAddr;
use std::sync::Arc;

use conventions::HEALTH_PATH;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use s3s::service::S3Service;
use s3s::{Body, HttpError};

use self::chaos::request::S3Verdict;
use self::chaos::{Call, Chaos, Fault};
use self::gate::{Gate, Service};
use crate::error::AwsError;
use crate::services::query::{Form, error_document};
use crate::services::s3::RequestId;
use crate::services::{sns, sqs, sts};

/// Largest body accepted by the query services (SNS takes 256 KiB of message, plus the form
/// around it).
const MAX_QUERY_BODY: usize = 1024 * 1024;
/// Largest body accepted by SQS's JSON protocol: a batch of up to 1 MiB of messages, whose JSON
/// escapes (`\n`, `\"`) may double it, plus the request around it.
const MAX_SQS_BODY: usize = 4 * 1024 * 1024;

/// The sandbox's HTTP service. Cheap to clone: one per connection.
#[derive(Clone, Debug)]
pub(crate) struct Router {
    pub(crate) s3: S3Service,
    pub(crate) gate: Gate,
    pub(crate) sts: Arc<sts::Sts>,
    pub(crate) sqs: Arc<sqs::Sqs>,
    pub(crate) sns: Arc<sns::Sns>,
    /// The health check's JSON for clients on this machine: the details (data directory, pid, …).
    pub(crate) health: Arc<str>,
    /// What other clients get: enough to tell a sandbox from another server, nothing of the
    /// machine it runs on.
    pub(crate) public_health: Arc<str>,
    pub(crate) chaos: Arc<Chaos>,
    /// The object store, for the CORS rules a browser's preflight request is answered by.
    pub(crate) objects: Arc<crate::state::objects::ObjectStore>,
    /// The client's address, set per connection; the chaos API answers loopback clients only.
    pub(crate) peer: Option<SocketAddr>,
}

/// Where a request goes.
enum Route {
    Health,
    Preflight,
    Chaos,
    /// The sandbox's own inspection paths (`/_aws/…`, in LocalStack's form): loopback clients only.
    Inspection,
    S3,
    Sqs(String),
    Query(Service),
}

fn route(req: &Request<Incoming>) -> Route {
    if req.uri().path() == HEALTH_PATH && req.method() == Method::GET {
        return Route::Health;
    }
    if req.uri().path().starts_with("/_sandbox/chaos/") {
        return Route::Chaos;
    }
    if req.uri().path().starts_with("/_aws/") {
        return Route::Inspection;
    }
    // A browser's CORS preflight is unsigned: S3 answers it by the bucket's CORS rules.
    if req.method() == Method::OPTIONS {
        return Route::Preflight;
    }
    if let Some(target) = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok())
        && let Some(operation) = target.strip_prefix("AmazonSQS.")
    {
        return Route::Sqs(operation.to_owned());
    }
    match sigv4::service_of(req.headers(), req.uri().query().unwrap_or_default()).as_deref() {
        Some("sts") => Route::Query(Service::Sts),
        Some("sns") => Route::Query(Service::Sns),
        // SQS's older query protocol (form-encoded `Action=…`, XML answers).
        Some("sqs") => Route::Query(Service::Sqs),
        _ => Route::S3,
    }
}

impl Router {
    async fn serve(self, req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        let started = std::time::Instant::now();
        let (service, operation) = match route(&req) {
            Route::Health => {
                let health = if on_this_machine(self.peer) { &self.health } else { &self.public_health };
                return Ok(reply(StatusCode::OK, "application/json", health.to_string()));
            }
            Route::Chaos => return Ok(self.chaos_admin(req).await),
            Route::Inspection if req.uri().path().starts_with(sqs::MESSAGES_PATH) => {
                return Ok(self.sqs_messages(req).await);
            }
            Route::Inspection if !on_this_machine(self.peer) => {
                return Ok(line(
                    StatusCode::FORBIDDEN,
                    "the sandbox's /_aws/ paths answer only clients on this machine",
                ));
            }
            Route::Inspection => return Ok(line(StatusCode::NOT_FOUND, "no such path")),
            Route::Preflight => return Ok(self.preflight(&req)),
            Route::S3 => return self.serve_s3(req).await,
            Route::Sqs(operation) => (Service::Sqs, Some(operation)),
            Route::Query(service) => (service, None),
        };
        let json = operation.is_some();
        let region = sigv4::scope_of(req.headers(), req.uri().query().unwrap_or_default()).map(|a| a.region);
        let (parts, body) = req.into_parts();
        let limit = if json { MAX_SQS_BODY } else { MAX_QUERY_BODY };
        let body = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let err = AwsError::new(
                    "RequestEntityTooLarge",
                    413,
                    format!("The request body is larger than {} MiB.", limit / (1024 * 1024)),
                );
                return Ok(render(service, json, Err(err)));
            }
        };
        let query = parts.uri.query().unwrap_or_default();
        let (action, queue) = match &operation {
            // The service reads the body itself; the rules need its queue only if one names a queue.
            Some(operation) => {
                (operation.clone(), self.chaos.names_a_queue().then(|| chaos::sqs_queue(&body)).flatten())
            }
            None => (Form::new(query, &body).action(), None),
        };
        let call = Call {
            service: service.name(),
            operation: &action,
            region: region.as_deref(),
            bucket: None,
            queue: queue.as_deref(),
        };
        let fault = self.chaos.fault_for(&call);
        let render_error = |err| render(service, json, Err(err));
        if let Some(fault) = fault.clone().filter(|f| !f.after) {
            return self.inject(&call, fault, render_error).await;
        }
        let answer = match self.gate.admit_signed(service, &parts, &body) {
            Err(err) => Err(err),
            Ok(caller) => match (service, &operation) {
                (Service::Sqs, Some(operation)) => {
                    let host = parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok());
                    let base_url = format!("http://{}", host.unwrap_or("127.0.0.1"));
                    self.sqs.handle(operation, &body, &base_url).await
                }
                (Service::Sqs, None) => {
                    let host = parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok());
                    let base_url = format!("http://{}", host.unwrap_or("127.0.0.1"));
                    sqs::handle_query(&self.sqs, &Form::new(query, &body), &base_url).await.map(String::into_bytes)
                }
                (Service::Sts, _) => self.sts.handle(&Form::new(query, &body), &caller).map(String::into_bytes),
                (Service::Sns, _) => self.sns.handle(&Form::new(query, &body)).await.map(String::into_bytes),
                (Service::S3, _) => Err(AwsError::new("InvalidAction", 400, "S3 requests go through s3s.")),
            },
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
        let resp = render(service, json, answer);
        self.finish(&call, fault, resp, render_error).await
    }

    /// S3's answer to a CORS preflight request on `/bucket[/key]`.
    fn preflight(&self, req: &Request<Incoming>) -> Response<Body> {
        let request_id = RequestId::new();
        let bucket = req.uri().path().trim_start_matches('/').split('/').next().unwrap_or_default();
        let resp = match crate::services::s3::cors::preflight(&self.objects, bucket, req.headers()) {
            Ok(headers) => {
                let mut resp = reply(StatusCode::OK, "application/xml", String::new());
                resp.headers_mut().extend(headers);
                resp
            }
            Err(err) => s3_error_response(err, false),
        };
        with_request_id(resp, &request_id.0)
    }

    /// S3 through s3s. Every answer carries the request's id (`x-amz-request-id`), and an
    /// error's body the same id.
    async fn serve_s3(self, mut req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        let request_id = RequestId::new();
        req.extensions_mut().insert(request_id.clone());
        let resp = self.serve_s3_request(req).await?;
        Ok(with_request_id(resp, &request_id.0))
    }

    /// s3s routes the request; its access hook (`chaos::request::S3Faults`) consults the fault
    /// rules on the operation it routed to and leaves its verdict here.
    async fn serve_s3_request(self, mut req: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        let verdict = S3Verdict::default();
        req.extensions_mut().insert(verdict.clone());
        let head = req.method() == Method::HEAD;
        let resp = self.s3.call(req.map(Body::from)).await.map(with_s3_message)?;
        let (operation, fault) = verdict.take().unwrap_or_else(|| ("(refused by s3s)".to_owned(), None));
        let call = Call { service: "s3", operation: &operation, ..Call::default() };
        self.finish(&call, fault, resp, |err| s3_error_response(err, head)).await
    }

    /// The answer once the work is done (or refused): after the effects' delay, `resp`, or —
    /// when a rule fired — the fault in its place.
    async fn finish(
        &self,
        call: &Call<'_>,
        fault: Option<Fault>,
        resp: Response<Body>,
        render_error: impl FnOnce(AwsError) -> Response<Body>,
    ) -> Result<Response<Body>, HttpError> {
        match fault {
            None => {
                self.chaos.delay().await;
                Ok(resp)
            }
            Some(fault) => {
                drop(resp);
                self.inject(call, fault, render_error).await
            }
        }
    }

    /// A fault's answer, after the effects' delay: the error in the service's format, or no
    /// answer at all (the connection closed) for a `reset` rule.
    async fn inject(
        &self,
        call: &Call<'_>,
        fault: Fault,
        render_error: impl FnOnce(AwsError) -> Response<Body>,
    ) -> Result<Response<Body>, HttpError> {
        self.chaos.delay().await;
        let when = if fault.after { " after the work" } else { "" };
        if fault.reset {
            tracing::info!("chaos: {} {} — connection closed{when}", call.service, call.operation);
            return Err(HttpError::new("connection closed by a chaos rule".into()));
        }
        tracing::info!(
            "chaos: {} {} answered {} {}{when}",
            call.service,
            call.operation,
            fault.error.status,
            fault.error.code
        );
        Ok(render_error(fault.error))
    }

    /// `/_sandbox/chaos/faults` and `/_sandbox/chaos/effects`: no signature, loopback clients only.
    async fn chaos_admin(&self, req: Request<Incoming>) -> Response<Body> {
        if !on_this_machine(self.peer) {
            return line(StatusCode::FORBIDDEN, "the chaos API answers only clients on this machine (loopback)");
        }
        let method = req.method().clone();
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let body = match Limited::new(req.into_body(), MAX_QUERY_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return line(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 1 MiB"),
        };
        let chaos = &self.chaos;
        let rules = |chaos: &Chaos| reply(StatusCode::OK, "application/json", chaos::rules_json(&chaos.rules()));
        match (path.as_str(), method) {
            (chaos::FAULTS_PATH, Method::GET) => rules(chaos),
            (chaos::FAULTS_PATH, Method::POST) => match chaos::parse_rules(&body) {
                Ok(added) => {
                    chaos.add(added);
                    tracing::info!("chaos: {} fault rules active", chaos.rules().len());
                    rules(chaos)
                }
                Err(err) => line(StatusCode::BAD_REQUEST, &err),
            },
            (chaos::FAULTS_PATH, Method::DELETE) if body.trim_ascii().is_empty() => {
                chaos.clear();
                tracing::info!("chaos: every fault rule removed");
                rules(chaos)
            }
            (chaos::FAULTS_PATH, Method::DELETE) => match chaos::parse_rules(&body) {
                Ok(removed) => {
                    chaos.remove(&removed);
                    tracing::info!("chaos: {} fault rules active", chaos.rules().len());
                    rules(chaos)
                }
                Err(err) => line(StatusCode::BAD_REQUEST, &err),
            },
            (chaos::EFFECTS_PATH, Method::GET) => {
                reply(StatusCode::OK, "application/json", chaos::effects_json(&chaos.effects()))
            }
            (chaos::EFFECTS_PATH, Method::POST) => match chaos::parse_effects(&body) {
                Ok(effects) => {
                    chaos.set_effects(effects);
                    tracing::info!("chaos: effects {}", chaos::effects_json(&effects));
                    reply(StatusCode::OK, "application/json", chaos::effects_json(&effects))
                }
                Err(err) => line(StatusCode::BAD_REQUEST, &err),
            },
            (chaos::FAULTS_PATH, _) => line(StatusCode::METHOD_NOT_ALLOWED, "use GET, POST or DELETE on the faults"),
            (chaos::EFFECTS_PATH, _) => line(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST on the effects"),
            _ => {
                line(StatusCode::NOT_FOUND, "no such chaos path; use /_sandbox/chaos/faults or /_sandbox/chaos/effects")
            }
        }
    }
}

impl Router {
    /// `/_aws/sqs/messages`: a queue's messages as they are, for tests (LocalStack's developer
    /// endpoint); no signature, loopback clients only, like the chaos API.
    async fn sqs_messages(&self, req: Request<Incoming>) -> Response<Body> {
        if !on_this_machine(self.peer) {
            return line(
                StatusCode::FORBIDDEN,
                "the sandbox's developer paths answer only clients on this machine (loopback)",
            );
        }
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_QUERY_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return line(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 1 MiB"),
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let sdk = header("x-amz-target").starts_with("AmazonSQS.");
        let mut params: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
        if sdk {
            if let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(&body) {
                params.extend(fields.into_iter().filter_map(|(k, v)| Some((k, v.as_str()?.to_owned()))));
            }
        } else {
            params.extend(form_urlencoded::parse(&body).into_owned());
        }
        let format = if sdk {
            sqs::ViewFormat::SdkJson
        } else if header("accept").contains("application/json") {
            sqs::ViewFormat::LocalStackJson
        } else {
            sqs::ViewFormat::Xml
        };
        match sqs::messages_view(&self.sqs, parts.uri.path(), &params, format) {
            Ok((content_type, body)) => reply(StatusCode::OK, content_type, body),
            Err(err) => render(Service::Sqs, format == sqs::ViewFormat::SdkJson, Err(err)),
        }
    }
}

/// Whether a client connected over loopback (IPv4, IPv6, or IPv4 mapped into IPv6): the only
/// clients the sandbox's own paths (the chaos API, the health check's details, `/_aws/…`) answer.
fn on_this_machine(peer: Option<SocketAddr>) -> bool {
    peer.is_some_and(|peer| peer.ip().to_canonical().is_loopback())
}

/// One line of text: what the chaos API answers to a mistake.
fn line(status: StatusCode, text: &str) -> Response<Body> {
    reply(status, "text/plain; charset=utf-8", format!("{text}\n"))
}

/// An error in S3's XML (through s3s, as S3's own errors), with no body for a HEAD request.
fn s3_error_response(err: AwsError, head: bool) -> Response<Body> {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match crate::error::s3_error(err).to_http_response() {
        Ok(resp) => resp,
        Err(_) => reply(status, "application/xml", Body::empty()),
    };
    if head {
        *resp.body_mut() = Body::empty();
        resp.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    }
    resp
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

/// `resp` with `x-amz-request-id` (and S3's `x-amz-id-2`), and — for an error whose body has
/// none — the same id as the body's `<RequestId>`, as S3 answers.
fn with_request_id(resp: Response<Body>, request_id: &str) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        parts.headers.insert("x-amz-request-id", value.clone());
        parts.headers.insert("x-amz-id-2", value);
    }
    let xml = (parts.status.as_u16() >= 400).then(|| body.bytes()).flatten();
    let rewritten = xml.as_deref().and_then(|xml| std::str::from_utf8(xml).ok()).and_then(|xml| {
        (!xml.contains("<RequestId>") && xml.contains("</Error>"))
            .then(|| xml.replacen("</Error>", &format!("<RequestId>{request_id}</RequestId></Error>"), 1))
    });
    match rewritten {
        Some(xml) => {
            parts.headers.remove(hyper::header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(xml))
        }
        None => Response::from_parts(parts, body),
    }
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
                Service::Sqs => sqs::QUERY_NAMESPACE,
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

#[cfg(test)]
mod tests {
    use super::on_this_machine;

    #[test]
    fn the_chaos_api_answers_loopback_clients_only() {
        for local in ["127.0.0.1:1", "127.8.9.10:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(on_this_machine(Some(local.parse().expect("address"))), "{local}");
        }
        for remote in ["10.0.0.1:1", "192.168.1.2:1", "[2001:db8::1]:1", "[::ffff:10.0.0.1]:1", "0.0.0.0:1"] {
            assert!(!on_this_machine(Some(remote.parse().expect("address"))), "{remote}");
        }
        assert!(!on_this_machine(None), "an unknown peer is not trusted");
    }
}
