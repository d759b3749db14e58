//! What the request pipeline tells the rules about a request: a [`Call`]. S3's operation is the one
//! s3s routes the request to, read in s3s's access hook ([`S3Faults`]), so that the sandbox has no
//! second S3 router; an SQS request's queue is read from its JSON body only when a rule names a
//! queue.

use std::sync::{Arc, Mutex, PoisonError};

use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use serde::Deserialize;

use super::{Chaos, Fault};
use crate::error::s3_error;
use crate::http::gate::S3Admission;
use crate::http::sigv4;

/// A request as the rules see it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// `s3`, `sqs`, `sns` or `sts`.
    pub service: &'a str,
    /// The operation's name.
    pub operation: &'a str,
    /// The region of the credential scope, when signed.
    pub region: Option<&'a str>,
    /// The bucket (S3).
    pub bucket: Option<&'a str>,
    /// The queue's name (SQS).
    pub queue: Option<&'a str>,
}

/// The queue an SQS JSON request names: the last path segment of its `QueueUrl`, else its
/// `QueueName` (CreateQueue, GetQueueUrl). `None` when the body names none or is not JSON.
pub fn sqs_queue(body: &[u8]) -> Option<String> {
    /// The two fields that name a queue; serde skips every other.
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct NamesAQueue {
        queue_url: Option<String>,
        queue_name: Option<String>,
    }
    let names: NamesAQueue = serde_json::from_slice(body).ok()?;
    match names.queue_url {
        Some(url) => url.trim_end_matches('/').rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_owned),
        None => names.queue_name,
    }
}

/// What the S3 access hook decided for one request, for the pipeline to act on once s3s answers:
/// the operation s3s routed it to and the fault to inject, if a rule fired. Empty when s3s refused
/// the request before its access hook (a bad signature, an unknown route).
#[derive(Debug, Clone, Default)]
pub(crate) struct S3Verdict(Arc<Mutex<Option<Verdict>>>);

/// The operation's name, and the fault a rule chose for it.
type Verdict = (String, Option<Fault>);

impl S3Verdict {
    /// The operation and the fault, once the hook has run.
    pub(crate) fn take(&self) -> Option<Verdict> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn set(&self, operation: &str, fault: Option<Fault>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((operation.to_owned(), fault));
    }
}

/// s3s's access hook: the fault rules for the operation s3s routed the request to, then the gate.
/// A fault that fires before the work stops the request here; the pipeline answers with it.
pub(crate) struct S3Faults {
    pub(crate) chaos: Arc<Chaos>,
    pub(crate) admission: S3Admission,
}

#[async_trait::async_trait]
impl S3Access for S3Faults {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name().to_owned();
        let region = sigv4::scope_of(cx.headers(), cx.uri().query().unwrap_or_default()).map(|a| a.region);
        let call = Call {
            service: "s3",
            operation: &operation,
            region: region.as_deref(),
            bucket: cx.s3_path().get_bucket_name(),
            queue: None,
        };
        let fault = self.chaos.fault_for(&call);
        if let Some(verdict) = cx.extensions_mut().get::<S3Verdict>() {
            verdict.set(&operation, fault.clone());
        }
        match fault.filter(|f| !f.after) {
            Some(fault) => Err(s3_error(fault.error)),
            None => self.admission.check(cx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqs_body_names_its_queue_by_url_or_name() {
        assert_eq!(sqs_queue(br#"{"QueueUrl":"http://h/000000000000/q1/","MessageBody":"x"}"#).as_deref(), Some("q1"));
        assert_eq!(sqs_queue(br#"{"QueueName":"q2","Attributes":{}}"#).as_deref(), Some("q2"));
        assert_eq!(sqs_queue(br#"{"MaxResults":1}"#), None);
        assert_eq!(sqs_queue(b"not json"), None);
    }
}
