//! The sample data a new sandbox starts with, taken from the repository's `data/` folder at
//! build time, so a sandbox binary seeds the same bytes wherever it runs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use s3s::dto::{LambdaFunctionConfiguration, NotificationConfiguration};

use crate::Error;
use crate::aws::queue_arn;
use crate::error::AwsError;
use crate::notify::{NOTIFIER_ARN, Notifications};
use crate::services::s3::RequestId;
use crate::services::sns::Sns;
use crate::services::sqs::Sqs;
use crate::state::Store;
use crate::state::objects::versions::{Versioning, VersioningConfig};
use crate::state::objects::{Checksums, NewObject, ObjectError, ObjectMeta, ObjectStore, WriteCondition};

/// The bucket the seed creates; the examples' default bucket.
pub const SEED_BUCKET: &str = conventions::BUCKET;

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
pub const SEED_TOPIC: &str = conventions::TOPIC;
/// The queue the seed creates, subscribed to [`SEED_TOPIC`].
pub const SEED_QUEUE: &str = conventions::QUEUE;
/// Its dead-letter queue.
pub const SEED_DLQ: &str = conventions::DEAD_LETTER_QUEUE;
/// Receives after which a message of [`SEED_QUEUE`] moves to [`SEED_DLQ`].
pub const SEED_MAX_RECEIVES: u32 = conventions::MAX_RECEIVES;
/// How long [`SEED_DLQ`] keeps a message (as `setup` and the deploy template make it).
pub const SEED_DLQ_RETENTION_SECONDS: u32 = conventions::DLQ_RETENTION_SECONDS;

/// The content type S3 would have been told for a seeded file, by its extension.
fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next().unwrap_or_default() {
        "geojson" => "application/geo+json",
        "json" => "application/json",
        "csv" => "text/csv",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Marks a data directory whose objects were seeded, so a user who deletes a sample object does
/// not get it back on the next start.
const SEEDED_MARKER: &str = ".sandbox.seeded";
/// The store's marker for the seeded topic, queues, subscription and notification settings.
const MESSAGING_SEEDED: &str = "messaging-seeded";

/// Whether `data_dir` holds anything a sandbox wrote (objects, queues, sessions).
pub(crate) fn holds_data(data_dir: &Path) -> bool {
    data_dir.join(SEEDED_MARKER).exists() || data_dir.join(crate::state::DB_FILE).exists()
}

/// Seeds the sample objects unless `data_dir` was seeded before. They are written into the
/// object store as PutObject writes them, with a content type, an ETag and a CRC32 checksum.
pub(crate) async fn seed_objects(data_dir: &Path, objects: &ObjectStore) -> Result<(), Error> {
    let marker = data_dir.join(SEEDED_MARKER);
    if marker.exists() {
        return Ok(());
    }
    objects.create_bucket(SEED_BUCKET).map_err(|err| seed_error(data_dir, err.to_string()))?;
    for (key, bytes) in SEED_OBJECTS {
        let mut writer = objects.object_writer();
        writer.write(bytes).await.map_err(|err| seed_error(data_dir, err.to_string()))?;
        let data = writer.finish().await.map_err(|err| seed_error(data_dir, err.to_string()))?;
        let mut hasher = s3s::checksum::ChecksumHasher { crc32: Some(Default::default()), ..Default::default() };
        hasher.update(bytes);
        let meta = ObjectMeta {
            content_type: Some(content_type(key).to_owned()),
            checksums: Checksums {
                crc32: hasher.finalize().checksum_crc32,
                kind: Some("FULL_OBJECT".to_owned()),
                ..Checksums::default()
            },
            ..ObjectMeta::default()
        };
        let etag = {
            use md5::Digest as _;
            hex::encode(md5::Md5::digest(bytes))
        };
        let new = NewObject { meta, data, size: bytes.len() as u64, etag, tags: None };
        objects
            .put(SEED_BUCKET, key, new, WriteCondition::default(), |_, _| Ok(()))
            .await
            .map_err(|err| seed_error(data_dir, err.to_string()))?;
    }
    write_atomically(&marker, b"seeded\n")?;
    tracing::info!("seeded bucket {SEED_BUCKET} with {} sample objects", SEED_OBJECTS.len());
    Ok(())
}

/// The store's marker for the seeded bucket's versioning having been turned on.
const BUCKET_VERSIONED: &str = "s3-seed-bucket-versioned";

/// Turns versioning on for the seeded bucket, as `setup` and the CloudFormation template do for
/// the pipeline's bucket, so that two uploads of one key keep both versions — once per data
/// directory (a directory seeded before versioning existed is versioned from its next start; a
/// user who suspends it keeps it suspended).
pub(crate) fn version_seed_bucket(data_dir: &Path, store: &Store, objects: &ObjectStore) -> Result<(), Error> {
    let failed = |message: String| Error::Store {
        path: data_dir.to_path_buf(),
        message: format!("turning on the seeded bucket's versioning: {message}"),
    };
    if store.meta(BUCKET_VERSIONED).map_err(|err| failed(err.to_string()))?.is_some() {
        return Ok(());
    }
    match objects.versioning(SEED_BUCKET) {
        Ok(config) if config.status == Versioning::Unversioned => {
            let enabled = VersioningConfig { status: Versioning::Enabled, mfa_delete: false };
            objects.set_versioning(SEED_BUCKET, enabled).map_err(|err| failed(err.to_string()))?;
            tracing::info!("turned on versioning for bucket {SEED_BUCKET}");
        }
        Ok(_) | Err(ObjectError::NoSuchBucket) => {}
        Err(err) => return Err(failed(err.to_string())),
    }
    store.set_meta(BUCKET_VERSIONED, "1").map_err(|err| failed(err.to_string()))
}

fn seed_error(data_dir: &Path, message: String) -> Error {
    Error::Store { path: data_dir.to_path_buf(), message: format!("seeding the sample objects: {message}") }
}

/// Creates the seeded topic, queues and subscription, and wires the seeded bucket's
/// `ObjectCreated` events to the notifier (as in the seed's Figure 1) — once per data directory,
/// since all of it is kept in the store.
pub(crate) fn seed_messaging(
    store: &Store,
    sqs: &Sqs,
    sns: &Sns,
    notifications: &Notifications,
    url: &str,
) -> Result<(), AwsError> {
    if store.meta(MESSAGING_SEEDED)?.is_some() {
        return Ok(());
    }
    let dlq = BTreeMap::from([("MessageRetentionPeriod".to_owned(), SEED_DLQ_RETENTION_SECONDS.to_string())]);
    let policy = serde_json::json!({
        "deadLetterTargetArn": queue_arn(SEED_DLQ),
        "maxReceiveCount": SEED_MAX_RECEIVES.to_string(),
    });
    let main = BTreeMap::from([("RedrivePolicy".to_owned(), policy.to_string())]);
    sqs.create_queue(url, SEED_DLQ, &dlq)?;
    sqs.create_queue(url, SEED_QUEUE, &main)?;
    let topic = sns.create_topic(SEED_TOPIC, &BTreeMap::new())?;
    sns.subscribe(&topic, "sqs", &queue_arn(SEED_QUEUE), false)?;
    let lambda = LambdaFunctionConfiguration {
        events: vec![s3s::dto::Event::from("s3:ObjectCreated:*".to_owned())],
        filter: None,
        id: Some("sos-notifier".to_owned()),
        lambda_function_arn: NOTIFIER_ARN.to_owned(),
    };
    let config = NotificationConfiguration { lambda_function_configurations: Some(vec![lambda]), ..Default::default() };
    notifications.set(SEED_BUCKET, config, &RequestId::new().0)?;
    store.set_meta(MESSAGING_SEEDED, "1")?;
    tracing::info!("seeded topic {SEED_TOPIC}, queue {SEED_QUEUE} and its dead-letter queue {SEED_DLQ}");
    Ok(())
}

/// Records that `data_dir` was started empty (`--no-seed`), so that a later start with the seed on
/// does not pour the sample data into what was built there since (a bucket, a queue of the same
/// name with other attributes); `reset` seeds it again.
pub(crate) fn keep_unseeded(data_dir: &Path, store: &Store) -> Result<(), Error> {
    let marker = data_dir.join(SEEDED_MARKER);
    if !marker.exists() {
        write_atomically(&marker, b"started empty\n")?;
    }
    let state_error = |source| Error::State { path: data_dir.to_path_buf(), source };
    if store.meta(MESSAGING_SEEDED).map_err(state_error)?.is_none() {
        store.set_meta(MESSAGING_SEEDED, "started empty").map_err(state_error)?;
    }
    Ok(())
}

/// Deletes every bucket, object and record in `data_dir`, keeping the lock file of this process.
pub(crate) fn reset(data_dir: &Path) -> Result<(), Error> {
    let entries = std::fs::read_dir(data_dir).map_err(Error::io("reading", data_dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io("reading", data_dir))?;
        let path = entry.path();
        // The lock is held by this process; the keys of a sandbox beyond loopback are who may
        // call it, not data, and users have pasted them.
        if entry.file_name() == crate::data_dir::LOCK_FILE || entry.file_name() == crate::keys::KEYS_FILE {
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
