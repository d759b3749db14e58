//! The sample data a new sandbox starts with, taken from the repository's `data/` folder at
//! build time, so a sandbox binary seeds the same bytes wherever it runs.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use crate::Error;

/// The bucket the seed creates; the examples' default bucket.
pub const SEED_BUCKET: &str = "snow-observing-systems";

/// The objects the seed puts in [`SEED_BUCKET`]: key and bytes.
pub const SEED_OBJECTS: &[(&str, &[u8])] = &[
    ("Optimization_result.geojson", include_bytes!("../../data/Optimization_result.geojson")),
    (
        "Missouri Open Loop sample output/SWE 2024-03-01.geojson",
        include_bytes!("../../data/Missouri Open Loop sample output/SWE 2024-03-01.geojson"),
    ),
    (
        "Missouri Open Loop sample output/basin_mean_swe.csv",
        include_bytes!("../../data/Missouri Open Loop sample output/basin_mean_swe.csv"),
    ),
    (
        "Missouri Open Loop sample output/README.txt",
        include_bytes!("../../data/Missouri Open Loop sample output/README.txt"),
    ),
];

/// The topic the seed creates; the notifier publishes to it.
pub const SEED_TOPIC: &str = "SnowObservingSystemsDataAvailability";
/// The queue the seed creates, subscribed to [`SEED_TOPIC`].
pub const SEED_QUEUE: &str = "SnowObservingSystemsDataUpdates";
/// Its dead-letter queue.
pub const SEED_DLQ: &str = "SnowObservingSystemsDataUpdates-dlq";
/// Receives after which a message of [`SEED_QUEUE`] moves to [`SEED_DLQ`].
pub const SEED_MAX_RECEIVES: u32 = 5;
/// How long [`SEED_DLQ`] keeps a message: 14 days, SQS's maximum (as `setup` and the deploy
/// template make it).
pub const SEED_DLQ_RETENTION_SECONDS: u32 = 1_209_600;

/// Creates the seeded topic, queues and subscription (they live in memory, so on every start).
pub(crate) fn seed_messaging(sqs: &crate::sqs::Sqs, sns: &crate::sns::Sns, url: &str) {
    let dlq = std::collections::BTreeMap::from([(
        "MessageRetentionPeriod".to_owned(),
        SEED_DLQ_RETENTION_SECONDS.to_string(),
    )]);
    let policy = serde_json::json!({
        "deadLetterTargetArn": crate::sqs::queue_arn(SEED_DLQ),
        "maxReceiveCount": SEED_MAX_RECEIVES.to_string(),
    });
    let main = std::collections::BTreeMap::from([("RedrivePolicy".to_owned(), policy.to_string())]);
    for (name, attributes) in [(SEED_DLQ, &dlq), (SEED_QUEUE, &main)] {
        if let Err(err) = sqs.create_queue(url, name, attributes) {
            tracing::warn!(queue = name, error = %err.message, "could not create a seeded queue");
        }
    }
    let subscribed = sns
        .create_topic(SEED_TOPIC)
        .and_then(|topic| sns.subscribe(&topic, "sqs", &crate::sqs::queue_arn(SEED_QUEUE), false));
    if let Err(err) = subscribed {
        tracing::warn!(topic = SEED_TOPIC, error = %err.message, "could not seed the topic");
    }
}

/// Wires the seeded bucket's `ObjectCreated` events to the notifier, as in the seed's Figure 1.
pub(crate) fn seed_notifications(notifications: &crate::notify::Notifications) {
    use s3s::dto::{LambdaFunctionConfiguration, NotificationConfiguration};
    let lambda = LambdaFunctionConfiguration {
        events: vec![s3s::dto::Event::from("s3:ObjectCreated:*".to_owned())],
        filter: None,
        id: Some("sos-notifier".to_owned()),
        lambda_function_arn: crate::notify::NOTIFIER_ARN.to_owned(),
    };
    notifications.set(
        SEED_BUCKET,
        NotificationConfiguration { lambda_function_configurations: Some(vec![lambda]), ..Default::default() },
    );
}

/// Marks a data directory as seeded, so a user who deletes a sample object does not get it back
/// on the next start.
const SEEDED_MARKER: &str = ".sandbox.seeded";

/// Seeds `data_dir` unless it was seeded before.
pub(crate) fn seed_if_new(data_dir: &Path) -> Result<(), Error> {
    let marker = data_dir.join(SEEDED_MARKER);
    if marker.exists() {
        return Ok(());
    }
    let bucket = data_dir.join(SEED_BUCKET);
    for (key, bytes) in SEED_OBJECTS {
        write_atomically(&bucket.join(key), bytes)?;
    }
    write_atomically(&marker, b"seeded\n")?;
    tracing::info!(bucket = SEED_BUCKET, objects = SEED_OBJECTS.len(), "seeded the sandbox");
    Ok(())
}

/// Deletes every bucket, object and record in `data_dir`, keeping the lock file of this process.
pub(crate) fn reset(data_dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(data_dir).map_err(Error::io("reading", data_dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io("reading", data_dir))?;
        let path = entry.path();
        if entry.file_name() == crate::LOCK_FILE {
            continue;
        }
        let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.map_err(Error::io("deleting", &path))?;
    }
    Ok(())
}

/// Writes `bytes` to a temp file beside `path`, syncs it, and renames it into place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    let tmp = dir.join(format!(".seed.{}.tmp", std::process::id()));
    let mut file = File::create(&tmp).map_err(Error::io("writing", &tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(Error::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("renaming into", path))
}
