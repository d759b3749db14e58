//! An HTTP client for the AWS SDK that hands its requests to the sandbox's own pipeline
//! in-process. The Lambda stand-in (the notifier) publishes to SNS through it: signed, and
//! admitted by the gate like any other request, but without a socket, HTTP framing or a second
//! trip through the network stack for every object created.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

use super::chaos::{Call, Chaos};
use super::gate::{Gate, Service};
use crate::error::AwsError;
use crate::services::query::{Form, error_document};
use crate::services::sns::{NAMESPACE, Sns};

/// The connector: the fault rules, the gate, then SNS — the stages every request passes.
#[derive(Debug, Clone)]
struct InProcessSns {
    gate: Gate,
    sns: Arc<Sns>,
    chaos: Arc<Chaos>,
}

impl InProcessSns {
    fn answer(&self, request: &HttpRequest) -> Result<Vec<u8>, AwsError> {
        let mut builder = http::Request::builder().method(request.method()).uri(request.uri());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        // The signer signed `host` from the URI, as a connection would send it.
        if request.headers().get("host").is_none()
            && let Ok(uri) = request.uri().parse::<http::Uri>()
            && let Some(authority) = uri.authority()
        {
            builder = builder.header("host", authority.as_str());
        }
        let (parts, ()) = builder
            .body(())
            .map_err(|err| AwsError::new("InvalidRequest", 400, format!("not an HTTP request: {err}")))?
            .into_parts();
        let body = request.body().bytes().unwrap_or_default();
        self.gate.admit_signed(Service::Sns, &parts, body)?;
        self.sns.handle(&Form::new(parts.uri.query().unwrap_or_default(), body)).map(String::into_bytes)
    }
}

impl HttpConnector for InProcessSns {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move {
            let body = request.body().bytes().unwrap_or_default();
            let action = Form::new("", body).action();
            let call = Call {
                service: "sns",
                operation: &action,
                region: Some(conventions::SANDBOX_REGION),
                ..Call::default()
            };
            let fault = this.chaos.fault_for(&call);
            let answer = match &fault {
                Some(fault) if !fault.after => Err(fault.error.clone()),
                _ => this.answer(&request),
            };
            this.chaos.delay().await;
            if let Some(fault) = fault {
                if fault.reset {
                    return Err(ConnectorError::io("connection closed by a chaos rule".into()));
                }
                return Ok(response(Err(fault.error)));
            }
            Ok(response(answer))
        })
    }
}

fn response(answer: Result<Vec<u8>, AwsError>) -> HttpResponse {
    let (status, body) = match answer {
        Ok(body) => (200, body),
        Err(err) => (err.status, error_document(NAMESPACE, &err).into_bytes()),
    };
    let status = status.try_into().unwrap_or_else(|_| 500u16.try_into().unwrap_or_else(|_| unreachable!()));
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

/// An SDK HTTP client whose requests go to this sandbox's SNS in-process, through the fault rules
/// and the gate.
pub(crate) fn sns_client(gate: Gate, sns: Arc<Sns>, chaos: Arc<Chaos>) -> SharedHttpClient {
    let connector = SharedHttpConnector::new(InProcessSns { gate, sns, chaos });
    http_client_fn(move |_, _| connector.clone())
}
