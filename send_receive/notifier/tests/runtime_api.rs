//! The built `notifier` binary — the Lambda function as deployed — run under a local
//! implementation of the AWS Lambda Runtime API, publishing to a sandbox topic. Each test starts
//! the process as Lambda would (the `AWS_LAMBDA_*` environment, `TOPIC_ARN`, credentials), hands
//! it real S3 event JSON through `GET /runtime/invocation/next`, and checks what it posts back
//! and what reaches the queue subscribed to the topic.
//!
//! `NOTIFIER_BOOTSTRAP=/path/to/bootstrap` runs another build of the function (CI runs the
//! `bootstrap` from the deployable zip `cargo lambda` makes) through the same tests.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, Response, StatusCode};
use sandbox::{SEED_QUEUE, SEED_TOPIC};
use serde_json::{Value, json};
use testkit::{SandboxClients as _, TestSandbox};
use tokio::sync::{mpsc, oneshot};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:sos-notifier";
const EVENT: &str = include_str!("data/s3-event.json");
const PATIENCE: Duration = Duration::from_secs(60);

/// What the function posted for one invocation.
#[derive(Debug)]
enum Outcome {
    /// `POST /runtime/invocation/{id}/response`: the handler's result.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`: `errorType` and `errorMessage`.
    Error(Value),
}

#[derive(Debug, Default)]
struct Waiters {
    outcomes: HashMap<String, oneshot::Sender<Outcome>>,
}

/// The Runtime API side of Lambda: queues invocations for `/next`, routes results back.
struct RuntimeApi {
    addr: SocketAddr,
    invocations: mpsc::UnboundedSender<(String, Vec<u8>)>,
    waiters: Arc<Mutex<Waiters>>,
    next_id: std::sync::atomic::AtomicU32,
}

struct State {
    invocations: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Vec<u8>)>>,
    waiters: Arc<Mutex<Waiters>>,
}

impl RuntimeApi {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (invocations, receiver) = mpsc::unbounded_channel();
        let waiters = Arc::new(Mutex::new(Waiters::default()));
        let state = Arc::new(State { invocations: tokio::sync::Mutex::new(receiver), waiters: waiters.clone() });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| serve(state.clone(), request));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Self { addr, invocations, waiters, next_id: std::sync::atomic::AtomicU32::new(1) }
    }

    /// Invokes the function with `event` and waits for what it posts back.
    async fn invoke(&self, event: &Value) -> Outcome {
        let id = format!("request-{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters").outcomes.insert(id.clone(), tx);
        self.invocations.send((id.clone(), event.to_string().into_bytes())).expect("queue the invocation");
        tokio::time::timeout(PATIENCE, rx).await.expect("the function answered in time").expect("an outcome")
    }
}

async fn serve(
    state: Arc<State>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = request.into_body().collect().await?.to_bytes();
    let accepted =
        || Response::builder().status(StatusCode::ACCEPTED).body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    let response = match (method, path.strip_prefix("/2018-06-01/runtime/")) {
        (Method::GET, Some("invocation/next")) => {
            // Long poll, as Lambda does: answer when there is an invocation.
            let next = state.invocations.lock().await.recv().await;
            let Some((id, event)) = next else {
                return Ok(Response::builder().status(StatusCode::GONE).body(Full::default()).expect("response"));
            };
            let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock")
                + Duration::from_secs(30);
            Response::builder()
                .header("lambda-runtime-aws-request-id", &id)
                .header("lambda-runtime-deadline-ms", deadline.as_millis().to_string())
                .header("lambda-runtime-invoked-function-arn", FUNCTION_ARN)
                .header("lambda-runtime-trace-id", "Root=1-67e5a1b2-0123456789abcdef01234567;Sampled=0")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(event)))
        }
        (Method::POST, Some(rest)) => {
            let parsed =
                serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
            let outcome = match rest.strip_prefix("invocation/").and_then(|r| r.rsplit_once('/')) {
                Some((id, "response")) => Some((id.to_owned(), Outcome::Response(parsed))),
                Some((id, "error")) => Some((id.to_owned(), Outcome::Error(parsed))),
                _ => None,
            };
            match outcome {
                Some((id, outcome)) => {
                    if let Some(waiter) = state.waiters.lock().expect("waiters").outcomes.remove(&id) {
                        let _ = waiter.send(outcome);
                    }
                    accepted()
                }
                None => Response::builder().status(StatusCode::NOT_FOUND).body(Full::default()),
            }
        }
        _ => Response::builder().status(StatusCode::NOT_FOUND).body(Full::default()),
    };
    Ok(response.expect("response"))
}

/// The function under test: the workspace's build, or `NOTIFIER_BOOTSTRAP`.
fn bootstrap() -> PathBuf {
    std::env::var_os("NOTIFIER_BOOTSTRAP").map(PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_notifier").into())
}

/// A sandbox (seeded: the topic, and the queue subscribed to it) and the function's environment.
struct World {
    sandbox: TestSandbox,
    home: tempfile::TempDir,
    sqs: aws_sdk_sqs::Client,
}

impl World {
    async fn start() -> Self {
        let sandbox = TestSandbox::start().await;
        Self { sqs: sandbox.sqs(), sandbox, home: tempfile::tempdir().expect("home") }
    }

    fn topic_arn(&self) -> String {
        format!("arn:aws:sns:{}:{}:{SEED_TOPIC}", sandbox::REGION, sandbox::ACCOUNT_ID)
    }

    /// The function's process as Lambda starts it; `topic_arn: None` leaves `TOPIC_ARN` unset.
    fn function(&self, api: Option<&RuntimeApi>, topic_arn: Option<&str>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(bootstrap());
        command
            .env_clear()
            .env("HOME", self.home.path())
            .env("AWS_LAMBDA_FUNCTION_NAME", "sos-notifier")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/sos-notifier")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]test")
            .env("AWS_REGION", sandbox::REGION)
            .env("AWS_ENDPOINT_URL", self.sandbox.url())
            // The sandbox's MFA-exempt application key, as the function's role would be.
            .env("AWS_ACCESS_KEY_ID", sandbox::identity::APP_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", sandbox::identity::APP_SECRET_ACCESS_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .kill_on_drop(true);
        if let Some(api) = api {
            command.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string());
        }
        if let Some(topic_arn) = topic_arn {
            command.env("TOPIC_ARN", topic_arn);
        }
        command
    }

    fn start_function(&self, api: &RuntimeApi, topic_arn: &str) -> tokio::process::Child {
        let mut command = self.function(Some(api), Some(topic_arn));
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command.spawn().expect("the function starts")
    }

    /// Receives (and deletes) `count` messages from the seeded queue, waiting on long polls.
    async fn announcements(&self, count: usize) -> Vec<Value> {
        let url = format!("{}/{}/{SEED_QUEUE}", self.sandbox.url(), sandbox::ACCOUNT_ID);
        let mut found = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while found.len() < count {
            assert!(tokio::time::Instant::now() < deadline, "only {} of {count} messages arrived", found.len());
            let out = self.sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(5);
            let out = out.send().await.expect("receive");
            for message in out.messages() {
                found.push(serde_json::from_str(message.body().expect("body")).expect("an SNS envelope"));
                let handle = message.receipt_handle().expect("handle");
                self.sqs.delete_message().queue_url(&url).receipt_handle(handle).send().await.expect("delete");
            }
        }
        found
    }

    async fn queue_depth(&self) -> String {
        let url = format!("{}/{}/{SEED_QUEUE}", self.sandbox.url(), sandbox::ACCOUNT_ID);
        let name = aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages;
        let out = self.sqs.get_queue_attributes().queue_url(url).attribute_names(name.clone()).send().await;
        out.expect("attributes").attributes().and_then(|a| a.get(&name)).cloned().unwrap_or_default()
    }
}

fn message_ids(response: &Value) -> BTreeSet<String> {
    response["message_ids"]
        .as_array()
        .expect("message_ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_events_become_one_announcement_per_new_object_over_two_invocations() {
    let world = World::start().await;
    let api = RuntimeApi::start().await;
    let _function = world.start_function(&api, &world.topic_arn());

    // 1. S3's event with three ObjectCreated records (Put, multipart, copy) and one ObjectRemoved.
    let event: Value = serde_json::from_str(EVENT).expect("event JSON");
    let Outcome::Response(response) = api.invoke(&event).await else { panic!("the invocation failed") };
    let ids = message_ids(&response);
    assert_eq!(ids.len(), 3, "one message per created object: {response}");
    let envelopes = world.announcements(3).await;
    assert_eq!(envelopes.iter().map(|e| e["MessageId"].as_str().expect("id").to_owned()).collect::<BTreeSet<_>>(), ids);
    let mut announced: Vec<notifier::DataAvailable> = envelopes
        .iter()
        .map(|e| {
            assert_eq!(e["TopicArn"], world.topic_arn().as_str());
            serde_json::from_str(e["Message"].as_str().expect("Message")).expect("our message format")
        })
        .collect();
    announced.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = announced.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "Missouri Open Loop sample output/SWE a&b=c (copy).nc",
            "Missouri Open Loop/a+b ü.txt",
            "Optimization_result.geojson"
        ]
    );
    let put = &announced[2];
    assert_eq!(
        (put.bucket.as_str(), put.size, put.event_name.as_str()),
        ("snow-observing-systems", 1_048_576, "ObjectCreated:Put")
    );
    assert_eq!(put.etag.as_deref(), Some("0b4a1e9f2c6f0e6a2b7b3c1f5d9e8a47"));
    assert_eq!(announced[1].event_name, "ObjectCreated:CompleteMultipartUpload");

    // 2. The same process serves the next invocation.
    let mut second = json!({ "Records": [event["Records"][0].clone()] });
    second["Records"][0]["s3"]["object"]["key"] = json!("runs/run+2+%281%29.geojson");
    let Outcome::Response(response) = api.invoke(&second).await else { panic!("the second invocation failed") };
    assert_eq!(message_ids(&response).len(), 1);
    let [envelope] = &world.announcements(1).await[..] else { panic!("one message") };
    let announced: notifier::DataAvailable =
        serde_json::from_str(envelope["Message"].as_str().expect("Message")).expect("format");
    assert_eq!(announced.key, "runs/run 2 (1).geojson");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_is_not_from_s3_is_an_invocation_error_and_the_function_keeps_serving() {
    let world = World::start().await;
    let api = RuntimeApi::start().await;
    let _function = world.start_function(&api, &world.topic_arn());

    let Outcome::Error(error) = api.invoke(&json!({ "foo": 1 })).await else { panic!("a non-S3 event must fail") };
    assert!(error["errorType"].as_str().is_some_and(|t| !t.is_empty()), "{error}");
    assert!(error["errorMessage"].as_str().is_some_and(|m| m.contains("Records")), "{error}");
    assert_eq!(world.queue_depth().await, "0", "nothing published");

    let event: Value = serde_json::from_str(EVENT).expect("event JSON");
    let Outcome::Response(response) = api.invoke(&event).await else { panic!("the next invocation failed") };
    assert_eq!(message_ids(&response).len(), 3);
    assert_eq!(world.announcements(3).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_that_fails_is_an_invocation_error_so_lambda_retries_the_event() {
    let world = World::start().await;
    let api = RuntimeApi::start().await;
    let missing = format!("arn:aws:sns:{}:{}:NoSuchTopic", sandbox::REGION, sandbox::ACCOUNT_ID);
    let _function = world.start_function(&api, &missing);

    let event: Value = serde_json::from_str(EVENT).expect("event JSON");
    let Outcome::Error(error) = api.invoke(&event).await else { panic!("publishing to a missing topic must fail") };
    assert_eq!(error["errorType"], "notifier::PublishError", "{error}");
    let message = error["errorMessage"].as_str().expect("errorMessage");
    assert!(message.contains("NoSuchTopic") && message.contains("0 of 3 published"), "{message}");
    assert_eq!(world.queue_depth().await, "0");
}

#[tokio::test]
async fn without_topic_arn_the_function_stops_at_init_and_says_what_to_set() {
    let world = World::start().await;
    let api = RuntimeApi::start().await;
    let out = tokio::time::timeout(PATIENCE, world.function(Some(&api), None).output())
        .await
        .expect("the function exits")
        .expect("the function runs");
    assert!(!out.status.success(), "a function with no topic must not start serving");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("TOPIC_ARN is not set"), "{said}");
}
