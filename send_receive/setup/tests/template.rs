//! `infra/template.yaml` and `setup` describe one pipeline: this test renders the template for a
//! stack in the sandbox's account (a small evaluator for the intrinsic functions it uses), runs
//! `setup` on an empty sandbox with the same names, and compares what each makes: names, the
//! redrive policy, the dead-letter queue's retention, the queue policy, the subscription, the
//! notification events, and the `.env` lines (the template's `DotEnv` output).

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use sandbox::SandboxOptions;
use serde_json::{Value, json};
use testkit::{Machine, SandboxClients as _, TestSandbox};

const BUCKET: &str = "sos-template-check";
const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");

/// The template as JSON, short-form tags (`!Ref`, `!Sub`, …) turned into their long forms.
fn load_template() -> Value {
    let text = std::fs::read_to_string(TEMPLATE).expect("infra/template.yaml");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("the template is YAML");
    to_json(yaml)
}

fn to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).expect("number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter().map(|(k, v)| (k.as_str().expect("string keys").to_owned(), to_json(v))).collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                // `!GetAtt Queue.Arn` is `Fn::GetAtt: [Queue, Arn]`.
                "GetAtt" => match value {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').expect("Resource.Attribute");
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): value }),
            }
        }
    }
}

/// A stack of the template: parameter values and the pseudo parameters, resolved the way
/// CloudFormation would for the resources this template declares.
struct Stack<'a> {
    template: &'a Value,
    parameters: BTreeMap<String, Value>,
    queue_url: &'a dyn Fn(&str) -> String,
}

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";

impl Stack<'_> {
    fn resource(&self, name: &str) -> &Value {
        &self.template["Resources"][name]
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        self.eval(condition).as_bool().unwrap_or_else(|| panic!("condition {name} is not a boolean"))
    }

    /// The value of `Ref name`.
    fn reference(&self, name: &str) -> Value {
        match name {
            "AWS::AccountId" => return json!(ACCOUNT),
            "AWS::Region" => return json!(REGION),
            "AWS::Partition" => return json!("aws"),
            "AWS::StackName" => return json!("sos-pipeline"),
            "AWS::URLSuffix" => return json!("amazonaws.com"),
            "AWS::NoValue" => return Value::Null,
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return value.clone();
        }
        let resource = self.resource(name);
        let property = |p: &str| self.eval(&resource["Properties"][p]);
        match resource["Type"].as_str().unwrap_or_else(|| panic!("no resource or parameter {name}")) {
            "AWS::S3::Bucket" => property("BucketName"),
            "AWS::SNS::Topic" => json!(format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", s(&property("TopicName")))),
            "AWS::SQS::Queue" => json!((self.queue_url)(s(&property("QueueName")))),
            "AWS::Lambda::Function" => property("FunctionName"),
            "AWS::IAM::Role" => json!(name),
            "AWS::Logs::LogGroup" => property("LogGroupName"),
            other => json!(format!("{other}:{name}")),
        }
    }

    fn get_att(&self, name: &str, attribute: &str) -> Value {
        let resource = self.resource(name);
        let property = |p: &str| self.eval(&resource["Properties"][p]);
        match (resource["Type"].as_str().unwrap_or_default(), attribute) {
            ("AWS::SQS::Queue", "Arn") => {
                json!(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", s(&property("QueueName"))))
            }
            ("AWS::SQS::Queue", "QueueName") => property("QueueName"),
            ("AWS::SQS::Queue", "QueueUrl") => self.reference(name),
            ("AWS::SNS::Topic", "TopicArn") => self.reference(name),
            ("AWS::SNS::Topic", "TopicName") => property("TopicName"),
            ("AWS::S3::Bucket", "Arn") => json!(format!("arn:aws:s3:::{}", s(&property("BucketName")))),
            ("AWS::Lambda::Function", "Arn") => {
                json!(format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", s(&property("FunctionName"))))
            }
            ("AWS::IAM::Role", "Arn") => json!(format!("arn:aws:iam::{ACCOUNT}:role/{name}")),
            ("AWS::Logs::LogGroup", "Arn") => {
                json!(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:*", s(&property("LogGroupName"))))
            }
            (kind, _) => panic!("the test does not know {kind}.{attribute}"),
        }
    }

    /// Evaluates the intrinsic functions in `value`.
    fn eval(&self, value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|v| self.eval(v)).collect()),
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => self.reference(s(arg)),
                    "Condition" => json!(self.condition(s(arg))),
                    "Fn::GetAtt" => self.get_att(s(&arg[0]), s(&arg[1])),
                    "Fn::Sub" => self.sub(arg),
                    "Fn::Join" => {
                        let parts = self.eval(&arg[1]);
                        let parts: Vec<String> =
                            parts.as_array().expect("list").iter().map(|p| s(p).to_owned()).collect();
                        json!(parts.join(s(&arg[0])))
                    }
                    "Fn::If" => {
                        if self.condition(s(&arg[0])) {
                            self.eval(&arg[1])
                        } else {
                            self.eval(&arg[2])
                        }
                    }
                    "Fn::Equals" => json!(self.eval(&arg[0]) == self.eval(&arg[1])),
                    "Fn::Not" => json!(!self.eval(&arg[0]).as_bool().expect("boolean")),
                    "Fn::And" => json!(arg.as_array().expect("list").iter().all(|c| self.eval(c) == json!(true))),
                    "Fn::Or" => json!(arg.as_array().expect("list").iter().any(|c| self.eval(c) == json!(true))),
                    _ => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect()),
                }
            }
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.eval(v))).collect()),
            other => other.clone(),
        }
    }

    fn sub(&self, arg: &Value) -> Value {
        let (text, vars) = match arg {
            Value::String(text) => (text.as_str(), serde_json::Map::new()),
            Value::Array(parts) => (s(&parts[0]), parts[1].as_object().cloned().unwrap_or_default()),
            other => panic!("Fn::Sub of {other}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 2..end];
            let value = match vars.get(name) {
                Some(v) => self.eval(v),
                None => match name.split_once('.') {
                    Some((resource, attribute)) if !name.starts_with("AWS::") => self.get_att(resource, attribute),
                    _ => self.reference(name),
                },
            };
            out.push_str(&match value {
                Value::String(v) => v,
                other => other.to_string(),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        json!(out)
    }
}

fn s(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// The template's resources of `kind`, by logical id.
fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"].as_object().expect("Resources").iter().filter(|(_, r)| r["Type"] == kind).collect()
}

#[tokio::test]
async fn the_template_and_setup_make_the_same_pipeline() {
    let template = load_template();

    // setup on an empty sandbox, with the template's default names and this bucket.
    let machine = Machine::new();
    let sandbox = TestSandbox::with(|o| SandboxOptions { seed: false, ..o }).await;
    let out = machine
        .command(env!("CARGO_BIN_EXE_setup"))
        .args(["--endpoint-url", sandbox.url(), "--bucket", BUCKET, "--env-file"])
        .output()
        .await
        .expect("setup runs");
    assert!(out.status.success(), "setup: {}", String::from_utf8_lossy(&out.stderr));
    let env_file = std::fs::read_to_string(machine.work().join(".env")).expect(".env");

    // The template rendered for a stack with that bucket and its default parameters.
    let mut parameters: BTreeMap<String, Value> = template["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .filter_map(|(name, p)| p.get("Default").map(|d| (name.clone(), d.clone())))
        .collect();
    parameters.insert("BucketName".into(), json!(BUCKET));
    parameters.insert("CodeBucket".into(), json!("sos-artifacts"));
    parameters.insert("CodeKey".into(), json!("notifier/0123456789abcdef.zip"));
    let base = sandbox.url().to_owned();
    let queue_url = move |name: &str| format!("{base}/{ACCOUNT}/{name}");
    let stack = Stack { template: &template, parameters, queue_url: &queue_url };

    check_the_parameters(&template);

    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{}", common::DEFAULT_TOPIC);
    check_the_outputs(&stack, &template, &env_file, &topic_arn);

    // Queues: names, redrive policy, the dead-letter queue's retention, as setup made them.
    let sqs = sandbox.sqs();
    let attributes = async |name: &str| {
        let out = sqs.get_queue_attributes().queue_url(queue_url(name)).attribute_names(QueueAttributeName::All);
        out.send().await.expect("attributes").attributes.unwrap_or_default()
    };
    let queues = resources(&template, "AWS::SQS::Queue");
    assert_eq!(queues.len(), 2, "a queue and its dead-letter queue");
    let mut made = Vec::new();
    for (_, queue) in &queues {
        let properties = stack.eval(&queue["Properties"]);
        let name = s(&properties["QueueName"]).to_owned();
        let actual = attributes(&name).await;
        match properties.get("RedrivePolicy") {
            Some(redrive) => {
                assert_eq!(name, common::DEFAULT_QUEUE);
                let actual: Value = serde_json::from_str(&actual[&QueueAttributeName::RedrivePolicy]).expect("JSON");
                assert_eq!(redrive["deadLetterTargetArn"], actual["deadLetterTargetArn"]);
                assert_eq!(
                    redrive["maxReceiveCount"].to_string().trim_matches('"'),
                    actual["maxReceiveCount"].to_string()
                );
            }
            None => {
                assert_eq!(name, setup::dead_letter_queue_name(common::DEFAULT_QUEUE));
                assert_eq!(
                    properties["MessageRetentionPeriod"].to_string().trim_matches('"'),
                    actual[&QueueAttributeName::MessageRetentionPeriod]
                );
            }
        }
        made.push(name);
    }

    // The topic and its subscription, then the queue's policy.
    check_the_topic(&stack, &template, &topic_arn);
    let [(_, queue_policy)] = resources(&template, "AWS::SQS::QueuePolicy")[..] else { panic!("one queue policy") };
    let queue_policy = stack.eval(&queue_policy["Properties"]);
    let actual = attributes(common::DEFAULT_QUEUE).await;
    let actual: Value = serde_json::from_str(&actual[&QueueAttributeName::Policy]).expect("policy JSON");
    assert_eq!(queue_policy["PolicyDocument"]["Statement"], actual["Statement"]);

    check_the_bucket(&stack, &template);
    check_the_function(&stack, &template, &topic_arn);
    assert_eq!(made.len(), 2);
}

/// The template's parameters default to what setup and the examples use.
fn check_the_parameters(template: &Value) {
    assert_eq!(template["Parameters"]["TopicName"]["Default"], common::DEFAULT_TOPIC);
    assert_eq!(template["Parameters"]["QueueName"]["Default"], common::DEFAULT_QUEUE);
    assert_eq!(template["Parameters"]["MaxReceiveCount"]["Default"], json!(setup::DEFAULT_MAX_RECEIVES));
    assert!(template["Parameters"]["BucketName"].get("Default").is_none(), "bucket names are global: no default");
}

/// The topic and its one subscription: the queue, in the SNS envelope.
fn check_the_topic(stack: &Stack, template: &Value, topic_arn: &str) {
    let [(_, topic)] = resources(template, "AWS::SNS::Topic")[..] else { panic!("one topic") };
    assert_eq!(stack.eval(&topic["Properties"]["TopicName"]), json!(common::DEFAULT_TOPIC));
    let [(_, subscription)] = resources(template, "AWS::SNS::Subscription")[..] else { panic!("one subscription") };
    let subscription = stack.eval(&subscription["Properties"]);
    assert_eq!(subscription["Protocol"], "sqs");
    assert_eq!(subscription["TopicArn"], json!(topic_arn));
    assert_eq!(subscription["Endpoint"], json!(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", common::DEFAULT_QUEUE)));
    assert!(matches!(subscription.get("RawMessageDelivery"), None | Some(Value::Bool(false))), "{subscription}");
}

/// The bucket: its notification, versioning and lifecycle rule, as setup makes them.
fn check_the_bucket(stack: &Stack, template: &Value) {
    // The bucket's notification: the same events, to the function (setup wires the topic instead
    // where no Lambda runs, or the function with --lambda-arn).
    let [(_, bucket)] = resources(template, "AWS::S3::Bucket")[..] else { panic!("one bucket") };
    let bucket = stack.eval(&bucket["Properties"]);
    assert_eq!(bucket["BucketName"], BUCKET);
    let lambdas = bucket["NotificationConfiguration"]["LambdaConfigurations"].as_array().expect("Lambda entries");
    let events: Vec<&str> = lambdas.iter().map(|l| s(&l["Event"])).collect();
    assert_eq!(events, [setup::OBJECT_CREATED_EVENTS]);
    assert!(lambdas[0].get("Filter").is_none(), "every new object, as setup wires it");
    // Versioned, with setup's lifecycle rule and its default number of days.
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    let [rule] = bucket["LifecycleConfiguration"]["Rules"].as_array().expect("lifecycle rules").as_slice() else {
        panic!("one lifecycle rule: {bucket}")
    };
    assert_eq!(rule["Id"], setup::versions::LIFECYCLE_RULE_ID);
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"].to_string(),
        setup::versions::DEFAULT_NONCURRENT_DAYS.to_string()
    );
}

/// The function, its role (nothing beyond publishing and its own logs) and S3's permission.
fn check_the_function(stack: &Stack, template: &Value, topic_arn: &str) {
    // The function runs the notifier with the topic to publish to.
    let [(_, function)] = resources(template, "AWS::Lambda::Function")[..] else { panic!("one function") };
    let function = stack.eval(&function["Properties"]);
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Handler"], "bootstrap");
    assert_eq!(function["Environment"]["Variables"]["TOPIC_ARN"], json!(topic_arn));
    assert_eq!(function["Architectures"], json!(["x86_64"]));
    assert_eq!(template["Parameters"]["Architecture"]["AllowedValues"], json!(["x86_64", "arm64"]));

    // Its role may publish to that topic and write its own log group: nothing else.
    let [(_, role)] = resources(template, "AWS::IAM::Role")[..] else { panic!("one role") };
    let role = stack.eval(&role["Properties"]);
    assert!(role.get("ManagedPolicyArns").is_none(), "no managed policies: {role}");
    let log_group = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/sos-pipeline-notifier:*");
    let mut granted: Vec<(String, String)> = Vec::new();
    for policy in role["Policies"].as_array().expect("inline policies") {
        for statement in policy["PolicyDocument"]["Statement"].as_array().expect("statements") {
            assert_eq!(statement["Effect"], "Allow");
            let actions = match &statement["Action"] {
                Value::Array(list) => list.iter().map(|a| s(a).to_owned()).collect(),
                one => vec![s(one).to_owned()],
            };
            granted.extend(actions.into_iter().map(|a| (a, s(&statement["Resource"]).to_owned())));
        }
    }
    granted.sort();
    assert_eq!(
        granted,
        [
            ("logs:CreateLogStream".to_owned(), log_group.clone()),
            ("logs:PutLogEvents".to_owned(), log_group),
            ("sns:Publish".to_owned(), topic_arn.to_owned()),
        ]
    );

    // S3 may invoke it for this bucket, from this account.
    let [(_, permission)] = resources(template, "AWS::Lambda::Permission")[..] else { panic!("one permission") };
    let permission = stack.eval(&permission["Properties"]);
    assert_eq!(permission["Principal"], "s3.amazonaws.com");
    assert_eq!(permission["Action"], "lambda:InvokeFunction");
    assert_eq!(permission["SourceArn"], json!(format!("arn:aws:s3:::{BUCKET}")));
    assert_eq!(permission["SourceAccount"], ACCOUNT);
}

/// The stack's outputs: the DotEnv output is what setup wrote (minus the endpoint line), and the
/// bucket, queue URL and topic ARN are setup's.
fn check_the_outputs(stack: &Stack, template: &Value, env_file: &str, topic_arn: &str) {
    let dotenv = stack.eval(&template["Outputs"]["DotEnv"]["Value"]);
    let without_endpoint: String =
        env_file.lines().filter(|l| !l.starts_with("AWS_ENDPOINT_URL=")).map(|l| format!("{l}\n")).collect();
    assert_eq!(s(&dotenv).trim_end(), without_endpoint.trim_end());
    let queue_url = (stack.queue_url)(common::DEFAULT_QUEUE);
    for (output, expected) in [("BucketName", BUCKET.to_owned()), ("QueueUrl", queue_url)] {
        assert_eq!(stack.eval(&template["Outputs"][output]["Value"]), json!(expected), "output {output}");
    }
    assert_eq!(stack.eval(&template["Outputs"]["TopicArn"]["Value"]), json!(topic_arn));
}
