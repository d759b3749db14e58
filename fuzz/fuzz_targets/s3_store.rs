//! The S3 object store driven through random sequences of put, copy, delete, multipart upload
//! (create, parts, complete or abort) and list, on arbitrary keys, against a model: a sorted
//! map of key → bytes, listed by a plain reading of S3's rules. After every step each key reads
//! back the model's bytes and every listing (prefix, delimiter, marker, max) equals the model's.
//!
//! Half the buckets are versioned (the input's first byte says which): there a delete adds a
//! delete marker, and every version a write made still reads back its own bytes by its id until
//! the end, when each version is deleted by id and the bucket with them.
//!
//! Input: a sequence of operations, each a byte choosing it and bytes for its arguments; keys
//! are built from a small alphabet with `/`, `+`, `%`, `.`, space, a two-byte and a four-byte
//! character, so folders, markers and delimiters collide often. Objects are kept inline up to 8
//! bytes, so both inline bytes and files (and multipart pieces) are read back.
#![no_main]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sandbox::state::objects::listing::{Entry, Query, rolled_up};
use sandbox::state::objects::versions::{Versioning, VersioningConfig};
use sandbox::state::objects::{
    ChosenPart, Completion, Data, NewObject, ObjectError, ObjectMeta, ObjectStore, ObjectVersion, Part, WriteCondition,
};
use sandbox::state::{Durability, Store};

struct World {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    store: ObjectStore,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path(), Durability::Process).expect("store"));
        let store = ObjectStore::open(store, dir.path()).expect("object store").with_inline_max(8);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        World { _dir: dir, runtime, store }
    })
}

/// The bytes of the input, consumed from the front.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    /// A key (or prefix, marker, delimiter) of up to `max` pieces of the alphabet.
    fn text(&mut self, max: u8) -> Option<String> {
        const ALPHABET: &[&str] = &["a", "b", "/", "+", "%", ".", " ", "ü", "❄", "a/", "z"];
        let len = self.byte()? % (max + 1);
        let mut text = String::new();
        for _ in 0..len {
            text.push_str(ALPHABET[usize::from(self.byte()?) % ALPHABET.len()]);
        }
        Some(text)
    }
}

/// The bytes of an object: `len` bytes that say which write made them.
fn bytes(len: u8, tag: u8) -> Vec<u8> {
    (0..len).map(|i| i.wrapping_mul(31) ^ tag).collect()
}

/// An ETag for `bytes` (32 hex digits; the store keeps what it is given).
fn etag_of(bytes: &[u8]) -> String {
    let hash =
        bytes.iter().fold(0xcbf2_9ce4_8422_2325_u128, |h, b| (h ^ u128::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:032x}")
}

async fn stored(store: &ObjectStore, bytes: &[u8], part: bool) -> Data {
    let mut writer = if part { store.part_writer() } else { store.object_writer() };
    writer.write(bytes).await.expect("write");
    writer.finish().await.expect("finish")
}

/// What the store holds for `key`, read back.
fn read(store: &ObjectStore, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let (version, _lease) = store.current(bucket, key).expect("current")?;
    bytes_of(store, version)
}

/// The bytes of a stored version (none for a delete marker).
fn bytes_of(store: &ObjectStore, version: ObjectVersion) -> Option<Vec<u8>> {
    if version.delete_marker {
        return None;
    }
    let out = match version.data {
        Data::Inline(bytes) => bytes.to_vec(),
        Data::Pieces(pieces) => {
            let mut out = Vec::new();
            for piece in pieces {
                let file = std::fs::read(store.blobs().path(&piece.blob)).expect("a row's file exists");
                assert_eq!(file.len() as u64, piece.size, "a piece's file has its size");
                out.extend(file);
            }
            out
        }
    };
    assert_eq!(out.len() as u64, version.size);
    Some(out)
}

/// S3's listing rules read plainly over the model.
fn model_list(model: &BTreeMap<String, Vec<u8>>, query: &Query<'_>) -> (Vec<String>, bool) {
    let mut entries: Vec<String> = Vec::new();
    for key in model.keys() {
        if !key.starts_with(query.prefix) || query.marker.is_some_and(|m| key.as_str() <= m) {
            continue;
        }
        match rolled_up(key, query.prefix, query.delimiter) {
            Some(common) => {
                let skipped = query.marker.is_some_and(|m| common <= m);
                let common = format!("{common} (prefix)");
                if !skipped && entries.last() != Some(&common) {
                    entries.push(common);
                }
            }
            None => entries.push(key.clone()),
        }
    }
    // max-keys 0 lists nothing and is not truncated (S3 and moto agree).
    let truncated = query.max > 0 && entries.len() > query.max;
    entries.truncate(query.max);
    (entries, truncated)
}

fuzz_target!(|data: &[u8]| {
    static BUCKETS: AtomicU64 = AtomicU64::new(0);
    let world = world();
    let store = &world.store;
    let bucket = format!("fuzz-{}", BUCKETS.fetch_add(1, Ordering::Relaxed));
    store.create_bucket(&bucket).expect("bucket");
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut input = Input(data);
    let versioned = input.byte().is_some_and(|b| b % 2 == 1);
    if versioned {
        store
            .set_versioning(&bucket, VersioningConfig { status: Versioning::Enabled, mfa_delete: false })
            .expect("versioning");
    }
    // Every version written to a versioned bucket: key, version id, bytes.
    let mut versions: Vec<(String, String, Vec<u8>)> = Vec::new();
    let record = |versions: &mut Vec<(String, String, Vec<u8>)>, version: &ObjectVersion, bytes: &[u8]| {
        if versioned {
            versions.push((version.key.clone(), version.version_id.clone(), bytes.to_vec()));
        }
    };
    let mut tag = 0u8;
    while let Some(op) = input.byte() {
        tag = tag.wrapping_add(1);
        match op % 5 {
            0 => {
                let (Some(key), Some(len)) = (input.text(6), input.byte()) else { break };
                let body = bytes(len % 40, tag);
                let data = world.runtime.block_on(stored(store, &body, false));
                let new = NewObject {
                    meta: ObjectMeta::default(),
                    data,
                    size: body.len() as u64,
                    etag: etag_of(&body),
                    tags: None,
                };
                let put = store.put(&bucket, &key, new, WriteCondition::default(), |_, _| Ok(()));
                let (version, ()) = world.runtime.block_on(put).expect("put");
                record(&mut versions, &version, &body);
                model.insert(key, body);
            }
            1 => {
                let (Some(from), Some(to)) = (input.text(6), input.text(6)) else { break };
                // A delete marker is no source.
                let current = store.current(&bucket, &from).expect("current").filter(|(v, _)| !v.delete_marker);
                let Some((source, _lease)) = current else {
                    assert!(!model.contains_key(&from), "{from:?} is in the model but not the store");
                    continue;
                };
                // The same files only where the copy replaces its source (as the S3 service does).
                let data = if from == to && !versioned {
                    source.data.clone()
                } else {
                    store.copy_data(&source.data).expect("copy")
                };
                let new = NewObject {
                    meta: source.meta.clone(),
                    data,
                    size: source.size,
                    etag: source.etag.clone(),
                    tags: None,
                };
                let put = store.put(&bucket, &to, new, WriteCondition::default(), |_, _| Ok(()));
                let (version, ()) = world.runtime.block_on(put).expect("copy put");
                let copied = model.get(&from).expect("the model has the source").clone();
                record(&mut versions, &version, &copied);
                model.insert(to, copied);
            }
            2 => {
                let Some(key) = input.text(6) else { break };
                if versioned {
                    // A delete marker becomes current; every version stays.
                    store
                        .delete_version(&bucket, &key, None, &WriteCondition::default(), |_, _| Ok(()))
                        .expect("marker");
                    model.remove(&key);
                    assert_eq!(read(store, &bucket, &key), None, "{key:?} reads as deleted");
                } else {
                    let removed =
                        store.delete(&bucket, &key, &WriteCondition::default(), |_, _| Ok(())).expect("delete");
                    assert_eq!(removed.is_some(), model.remove(&key).is_some(), "delete of {key:?}");
                }
            }
            3 => {
                let (Some(key), Some(count), Some(abort)) = (input.text(6), input.byte(), input.byte()) else { break };
                let upload = store.create_upload(&bucket, &key, &ObjectMeta::default(), None).expect("create upload");
                let mut chosen = Vec::new();
                let mut whole = Vec::new();
                for number in 1..=i32::from(count % 3) + 1 {
                    let Some(len) = input.byte() else { break };
                    let body = bytes(len % 20, tag.wrapping_add(number as u8));
                    let Data::Pieces(pieces) = world.runtime.block_on(stored(store, &body, true)) else {
                        panic!("a part is a file")
                    };
                    let part = Part {
                        number,
                        size: body.len() as u64,
                        etag: etag_of(&body),
                        last_modified_ms: 0,
                        checksums: Default::default(),
                        blob: pieces[0].blob.clone(),
                    };
                    chosen.push(ChosenPart { number, etag: format!("\"{}\"", part.etag), ..Default::default() });
                    store.put_part(&bucket, &key, &upload, part).expect("part");
                    whole.extend(body);
                }
                if abort % 2 == 0 || chosen.is_empty() {
                    store.abort(&bucket, &key, &upload).expect("abort");
                    continue;
                }
                let completed =
                    store.complete(&bucket, &key, &upload, &chosen, &WriteCondition::default(), |_, _| Ok(()));
                match completed {
                    // Parts are under 5 MiB: only a single part completes.
                    Ok(completion) => {
                        assert_eq!(chosen.len(), 1, "a small part but the last completed");
                        if let Completion::New(version) = completion {
                            record(&mut versions, &version, &whole);
                        }
                        model.insert(key, whole);
                    }
                    Err(ObjectError::EntityTooSmall { .. }) => {
                        assert!(chosen.len() > 1);
                        store.abort(&bucket, &key, &upload).expect("abort after a refusal");
                    }
                    Err(err) => panic!("completion failed: {err}"),
                }
            }
            _ => {
                let (Some(prefix), Some(delimiter), Some(marker), Some(max)) =
                    (input.text(3), input.text(2), input.text(4), input.byte())
                else {
                    break;
                };
                let query = Query {
                    prefix: &prefix,
                    delimiter: Some(delimiter.as_str()).filter(|d| !d.is_empty()),
                    marker: Some(marker.as_str()).filter(|m| !m.is_empty()),
                    max: usize::from(max % 8),
                };
                let page = store.list(&bucket, &query).expect("list");
                let listed: Vec<String> = page
                    .entries
                    .iter()
                    .map(|e| match e {
                        Entry::Item(v) => v.key.clone(),
                        Entry::Prefix(p) => format!("{p} (prefix)"),
                    })
                    .collect();
                assert_eq!((listed, page.truncated), model_list(&model, &query), "{query:?}");
            }
        }
        for (key, bytes) in &model {
            assert_eq!(read(store, &bucket, key).as_deref(), Some(bytes.as_slice()), "{key:?} reads back");
        }
        for (key, id, bytes) in &versions {
            let (version, _lease) = store.version(&bucket, key, id).expect("version").expect("a version stays");
            assert_eq!(bytes_of(store, version).as_deref(), Some(bytes.as_slice()), "{key:?} {id} reads back");
        }
    }
    // The whole bucket, unlisted by any marker, is the model; then it is emptied and deleted.
    let all = store.list(&bucket, &Query { max: 10_000, ..Query::default() }).expect("list all");
    let keys: Vec<String> =
        all.entries.iter().filter_map(|e| if let Entry::Item(v) = e { Some(v.key.clone()) } else { None }).collect();
    assert_eq!(keys, model.keys().cloned().collect::<Vec<_>>());
    if versioned {
        // Every version and marker, deleted by id.
        let every = store.list_versions(&bucket, &Query { max: 100_000, ..Query::default() }, None).expect("versions");
        for entry in every.entries {
            if let Entry::Item(v) = entry {
                let condition = WriteCondition::default();
                store.delete_version(&bucket, &v.key, Some(&v.version_id), &condition, |_, _| Ok(())).expect("by id");
            }
        }
    } else {
        for key in model.keys() {
            store.delete(&bucket, key, &WriteCondition::default(), |_, _| Ok(())).expect("empty the bucket");
        }
    }
    store.delete_bucket(&bucket).expect("delete the bucket");
});
