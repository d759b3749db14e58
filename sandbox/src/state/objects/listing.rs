//! S3's listing rules, written once for every listing (objects, object versions, multipart
//! uploads): keys in UTF-8 byte order from a marker, those that do not start with the prefix left
//! out, keys that contain the delimiter after the prefix rolled up into one common prefix (which
//! counts as one entry, and is left out when it sorts at or before the marker, so that a page
//! that ended on a common prefix continues after all of its keys), at most `max` entries, and
//! whether more follow.
//!
//! The rows come from SQLite in `key` order (its default BINARY collation compares UTF-8 bytes,
//! as S3 orders keys). After a common prefix the next query starts at the first string past every
//! key that has it, so a folder of a million keys costs one query, not a million rows.

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{ObjectVersion, Upload, VERSION_COLUMNS};

/// How many rows one query fetches.
const BATCH: usize = 256;

/// What a listing asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<'a> {
    /// Only keys that start with it.
    pub prefix: &'a str,
    /// Roll up keys that contain it after the prefix; `None` (or empty) for no rolling up.
    pub delimiter: Option<&'a str>,
    /// Only keys after it (ListObjects' `marker`, ListObjectsV2's `start-after` or continuation
    /// token, the `key-marker` of the others).
    pub marker: Option<&'a str>,
    /// At most this many entries (objects and common prefixes together).
    pub max: usize,
}

/// One entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<T> {
    /// An object, version or upload.
    Item(T),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The entries, in order.
    pub entries: Vec<Entry<T>>,
    /// Whether entries follow the last one.
    pub truncated: bool,
}

impl<T> Page<T> {
    /// The key (or common prefix) of the last entry.
    pub fn last_key<'a>(&'a self, key: impl Fn(&'a T) -> &'a str) -> Option<&'a str> {
        self.entries.last().map(|entry| match entry {
            Entry::Item(item) => key(item),
            Entry::Prefix(prefix) => prefix.as_str(),
        })
    }
}

/// Where the next query starts.
pub(crate) enum From<P> {
    /// Where the listing's markers say.
    Start,
    /// After the entry at this position.
    After(P),
    /// At the first key that does not start with this common prefix (and sorts after it).
    PastPrefix(String),
}

/// Rows in listing order.
pub(crate) trait Source {
    /// What a row is.
    type Item;
    /// Where a row is, to continue after it.
    type Position;
    /// A row's key.
    fn key(item: &Self::Item) -> &str;
    /// A row's position.
    fn position(item: &Self::Item) -> Self::Position;
    /// Up to `limit` rows from `from`, in order.
    fn fetch(&mut self, from: &From<Self::Position>, limit: usize) -> rusqlite::Result<Vec<Self::Item>>;
}

/// The common prefix `key` rolls up into: up to and including the first `delimiter` after
/// `prefix`.
pub fn rolled_up<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(delimiter).map(|at| &key[..prefix.len() + at + delimiter.len()])
}

/// The first string (as bytes) that sorts after every string that starts with `prefix`: the
/// prefix with its last byte raised by one (UTF-8 has no 0xFF byte, so there is no carry).
fn successor(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    bytes
}

/// Text compared byte for byte by SQLite, even when it is not valid UTF-8 ([`successor`]).
struct RawText<'a>(&'a [u8]);

impl ToSql for RawText<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0)))
    }
}

/// One page of `source` by S3's rules.
pub(crate) fn page<S: Source>(source: &mut S, query: &Query<'_>) -> rusqlite::Result<Page<S::Item>> {
    let mut entries = Vec::new();
    if query.max == 0 {
        return Ok(Page { entries, truncated: false });
    }
    let mut from = From::Start;
    loop {
        let batch = source.fetch(&from, BATCH)?;
        let full = batch.len() == BATCH;
        let mut next = None;
        for item in batch {
            let key = S::key(&item);
            if !key.starts_with(query.prefix) {
                return Ok(Page { entries, truncated: false });
            }
            if let Some(common) = rolled_up(key, query.prefix, query.delimiter) {
                let common = common.to_owned();
                if query.marker.is_none_or(|marker| common.as_str() > marker) {
                    if entries.len() == query.max {
                        return Ok(Page { entries, truncated: true });
                    }
                    entries.push(Entry::Prefix(common.clone()));
                }
                next = Some(From::PastPrefix(common));
                break;
            }
            if entries.len() == query.max {
                return Ok(Page { entries, truncated: true });
            }
            next = Some(From::After(S::position(&item)));
            entries.push(Entry::Item(item));
        }
        match next {
            Some(next @ From::PastPrefix(_)) => from = next,
            Some(next) if full => from = next,
            _ => return Ok(Page { entries, truncated: false }),
        }
    }
}

/// The lower bound of a query: (bytes, inclusive).
fn lower_bound<'a>(prefix: &'a str, marker: Option<&'a str>) -> (Vec<u8>, bool) {
    match marker {
        Some(marker) if marker >= prefix => (marker.as_bytes().to_vec(), false),
        _ => (prefix.as_bytes().to_vec(), true),
    }
}

/// Columns of a listed version: everything but the bytes.
fn listed_columns() -> String {
    VERSION_COLUMNS.replace("inline, pieces", "NULL, NULL")
}

/// The current (non-delete-marker) objects of a bucket.
pub(crate) struct CurrentObjects<'c> {
    conn: &'c Connection,
    bucket: &'c str,
    prefix: &'c str,
    marker: Option<&'c str>,
}

impl<'c> CurrentObjects<'c> {
    pub(crate) fn new(conn: &'c Connection, bucket: &'c str, query: &Query<'c>) -> Self {
        Self { conn, bucket, prefix: query.prefix, marker: query.marker }
    }
}

impl Source for CurrentObjects<'_> {
    type Item = ObjectVersion;
    type Position = String;

    fn key(item: &ObjectVersion) -> &str {
        &item.key
    }

    fn position(item: &ObjectVersion) -> String {
        item.key.clone()
    }

    fn fetch(&mut self, from: &From<String>, limit: usize) -> rusqlite::Result<Vec<ObjectVersion>> {
        let (lower, inclusive) = match from {
            From::Start => lower_bound(self.prefix, self.marker),
            From::After(key) => (key.as_bytes().to_vec(), false),
            From::PastPrefix(common) => (successor(common), true),
        };
        let op = if inclusive { ">=" } else { ">" };
        let sql = format!(
            "SELECT {} FROM s3_objects WHERE bucket = ?1 AND latest = 1 AND delete_marker = 0 AND key {op} ?2 \
             ORDER BY key LIMIT ?3",
            listed_columns()
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![self.bucket, RawText(&lower), limit], ObjectVersion::from_row)?;
        rows.collect()
    }
}

/// Every version (delete markers included) of a bucket's objects, by key, newest first.
pub(crate) struct Versions<'c> {
    conn: &'c Connection,
    bucket: &'c str,
    prefix: &'c str,
    marker: Option<&'c str>,
    /// The position the version marker names, when one was given.
    start: Option<(String, i64)>,
}

impl<'c> Versions<'c> {
    /// Versions after `query.marker` (all its versions) or, with `version_marker`, after that
    /// version of the marker key. An unknown version marker is [`super::ObjectError::NoSuchVersion`].
    pub(crate) fn new(
        conn: &'c Connection,
        bucket: &'c str,
        query: &Query<'c>,
        version_marker: Option<&str>,
    ) -> Result<Self, super::ObjectError> {
        let start = match (query.marker, version_marker) {
            (Some(key), Some(version)) => {
                let seq: Option<i64> = conn
                    .prepare_cached("SELECT seq FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND version_id = ?3")?
                    .query_row(params![bucket, key, version], |row| row.get(0))
                    .optional()?;
                Some((key.to_owned(), seq.ok_or(super::ObjectError::NoSuchVersion)?))
            }
            _ => None,
        };
        Ok(Self { conn, bucket, prefix: query.prefix, marker: query.marker, start })
    }

    fn older_versions(&self, key: &str, seq: i64, limit: usize) -> rusqlite::Result<Vec<ObjectVersion>> {
        let sql = format!(
            "SELECT {} FROM s3_objects WHERE bucket = ?1 AND key = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT ?4",
            listed_columns()
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(&sql)?
            .query_map(params![self.bucket, key, seq, limit], ObjectVersion::from_row)?
            .collect()
    }

    fn keys_from(&self, lower: &[u8], inclusive: bool, limit: usize) -> rusqlite::Result<Vec<ObjectVersion>> {
        let op = if inclusive { ">=" } else { ">" };
        let sql = format!(
            "SELECT {} FROM s3_objects WHERE bucket = ?1 AND key {op} ?2 ORDER BY key, seq DESC LIMIT ?3",
            listed_columns()
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(&sql)?
            .query_map(params![self.bucket, RawText(lower), limit], ObjectVersion::from_row)?
            .collect()
    }
}

impl Source for Versions<'_> {
    type Item = ObjectVersion;
    type Position = (String, i64);

    fn key(item: &ObjectVersion) -> &str {
        &item.key
    }

    fn position(item: &ObjectVersion) -> (String, i64) {
        (item.key.clone(), item.seq)
    }

    fn fetch(&mut self, from: &From<(String, i64)>, limit: usize) -> rusqlite::Result<Vec<ObjectVersion>> {
        let after = match from {
            From::Start => self.start.clone(),
            From::After(position) => Some(position.clone()),
            From::PastPrefix(common) => return self.keys_from(&successor(common), true, limit),
        };
        match after {
            Some((key, seq)) => {
                let mut rows = self.older_versions(&key, seq, limit)?;
                if rows.len() < limit {
                    let (lower, inclusive) = lower_bound(self.prefix, Some(&key));
                    rows.extend(self.keys_from(&lower, inclusive, limit - rows.len())?);
                }
                Ok(rows)
            }
            None => {
                let (lower, inclusive) = lower_bound(self.prefix, self.marker);
                self.keys_from(&lower, inclusive, limit)
            }
        }
    }
}

/// The multipart uploads in progress of a bucket, by key, then by initiation.
pub(crate) struct Uploads<'c> {
    conn: &'c Connection,
    bucket: &'c str,
    prefix: &'c str,
    marker: Option<&'c str>,
    start: Option<(String, i64, String)>,
}

impl<'c> Uploads<'c> {
    /// Uploads after `query.marker` (all of that key's) or, with `upload_id_marker`, after that
    /// upload of the marker key (by initiation time, or by id when the upload is gone).
    pub(crate) fn new(
        conn: &'c Connection,
        bucket: &'c str,
        query: &Query<'c>,
        upload_id_marker: Option<&str>,
    ) -> rusqlite::Result<Self> {
        let start = match (query.marker, upload_id_marker) {
            (Some(key), Some(upload_id)) => {
                let initiated: Option<i64> = conn
                    .prepare_cached("SELECT initiated_ms FROM s3_uploads WHERE upload_id = ?1")?
                    .query_row([upload_id], |row| row.get(0))
                    .optional()?;
                Some((key.to_owned(), initiated.unwrap_or(0), upload_id.to_owned()))
            }
            _ => None,
        };
        Ok(Self { conn, bucket, prefix: query.prefix, marker: query.marker, start })
    }

    fn same_key_after(
        &self,
        key: &str,
        initiated: i64,
        upload_id: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<Upload>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "SELECT upload_id, bucket, key, initiated_ms, meta, tags FROM s3_uploads WHERE bucket = ?1 AND key = ?2 \
                 AND (initiated_ms > ?3 OR (initiated_ms = ?3 AND upload_id > ?4)) \
                 ORDER BY initiated_ms, upload_id LIMIT ?5",
            )?
            .query_map(params![self.bucket, key, initiated, upload_id, limit], Upload::from_row)?
            .collect()
    }

    fn keys_from(&self, lower: &[u8], inclusive: bool, limit: usize) -> rusqlite::Result<Vec<Upload>> {
        let op = if inclusive { ">=" } else { ">" };
        let sql = format!(
            "SELECT upload_id, bucket, key, initiated_ms, meta, tags FROM s3_uploads WHERE bucket = ?1 AND key {op} ?2 \
             ORDER BY key, initiated_ms, upload_id LIMIT ?3"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(&sql)?
            .query_map(params![self.bucket, RawText(lower), limit], Upload::from_row)?
            .collect()
    }
}

impl Source for Uploads<'_> {
    type Item = Upload;
    type Position = (String, i64, String);

    fn key(item: &Upload) -> &str {
        &item.key
    }

    fn position(item: &Upload) -> (String, i64, String) {
        (item.key.clone(), i64::try_from(item.initiated_ms).unwrap_or(i64::MAX), item.upload_id.clone())
    }

    fn fetch(&mut self, from: &From<(String, i64, String)>, limit: usize) -> rusqlite::Result<Vec<Upload>> {
        let after = match from {
            From::Start => self.start.clone(),
            From::After(position) => Some(position.clone()),
            From::PastPrefix(common) => return self.keys_from(&successor(common), true, limit),
        };
        match after {
            Some((key, initiated, upload_id)) => {
                let mut rows = self.same_key_after(&key, initiated, &upload_id, limit)?;
                if rows.len() < limit {
                    let (lower, inclusive) = lower_bound(self.prefix, Some(&key));
                    rows.extend(self.keys_from(&lower, inclusive, limit - rows.len())?);
                }
                Ok(rows)
            }
            None => {
                let (lower, inclusive) = lower_bound(self.prefix, self.marker);
                self.keys_from(&lower, inclusive, limit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source over a sorted list of keys, as SQLite would return them: from the first key at
    /// or after the prefix (`.2`); `.1` counts the queries.
    struct Keys(Vec<String>, usize, String);

    impl Source for Keys {
        type Item = String;
        type Position = String;
        fn key(item: &String) -> &str {
            item
        }
        fn position(item: &String) -> String {
            item.clone()
        }
        fn fetch(&mut self, from: &From<String>, limit: usize) -> rusqlite::Result<Vec<String>> {
            self.1 += 1;
            let keep = |k: &String| match from {
                From::Start => k.as_str() >= self.2.as_str(),
                From::After(after) => k > after,
                From::PastPrefix(common) => k.as_bytes() >= successor(common).as_slice(),
            };
            Ok(self.0.iter().filter(|k| keep(k)).take(limit).cloned().collect())
        }
    }

    fn list(keys: &[&str], query: Query<'_>) -> (Vec<String>, bool) {
        let mut sorted: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        sorted.sort();
        let mut source = Keys(sorted, 0, query.prefix.to_owned());
        let marker = query.marker.map(str::to_owned);
        if let Some(marker) = &marker {
            source.0.retain(|k| k > marker);
        }
        let page = page(&mut source, &query).expect("page");
        let entries = page
            .entries
            .into_iter()
            .map(|e| match e {
                Entry::Item(k) => k,
                Entry::Prefix(p) => format!("{p} (prefix)"),
            })
            .collect();
        (entries, page.truncated)
    }

    #[test]
    fn delimiters_roll_keys_up_and_count_once() {
        let keys = ["a", "a/b", "a/c/d", "b/x", "c", "a/"];
        let query = Query { delimiter: Some("/"), max: 1000, ..Query::default() };
        assert_eq!(list(&keys, query).0, ["a", "a/ (prefix)", "b/ (prefix)", "c"]);
        let query = Query { prefix: "a/", delimiter: Some("/"), max: 1000, ..Query::default() };
        assert_eq!(list(&keys, query).0, ["a/", "a/b", "a/c/ (prefix)"]);
        let query = Query { delimiter: Some("/"), max: 2, ..Query::default() };
        assert_eq!(list(&keys, query), (vec!["a".to_owned(), "a/ (prefix)".to_owned()], true));
        let query = Query { delimiter: Some("/"), max: 2, marker: Some("a/"), ..Query::default() };
        assert_eq!(list(&keys, query), (vec!["b/ (prefix)".to_owned(), "c".to_owned()], false));
    }

    #[test]
    fn a_prefix_and_delimiter_that_match_nothing_list_nothing() {
        let keys = ["a", "b/c", "d"];
        let query = Query { prefix: "x/", delimiter: Some("/"), max: 1000, ..Query::default() };
        assert_eq!(list(&keys, query), (Vec::<String>::new(), false));
    }

    #[test]
    fn max_zero_is_an_empty_page_that_is_not_truncated() {
        assert_eq!(list(&["a", "b"], Query { max: 0, ..Query::default() }), (Vec::<String>::new(), false));
    }

    #[test]
    fn a_common_prefix_costs_one_query_however_many_keys_it_holds() {
        let mut keys: Vec<String> = (0..5000).map(|i| format!("big/{i:05}")).collect();
        keys.push("z".to_owned());
        let mut source = Keys(keys, 0, String::new());
        let query = Query { delimiter: Some("/"), max: 1000, ..Query::default() };
        let page = page(&mut source, &query).expect("page");
        assert_eq!(page.entries, [Entry::Prefix("big/".to_owned()), Entry::Item("z".to_owned())]);
        assert_eq!(source.1, 2, "one query for the folder, one after it");
    }

    #[test]
    fn successors_sort_after_every_key_with_the_prefix() {
        for prefix in ["a/", "ü/", "a\u{10FFFF}"] {
            let next = successor(prefix);
            assert!(format!("{prefix}\u{10FFFF}\u{10FFFF}").as_bytes() < next.as_slice());
            assert!(prefix.as_bytes() < next.as_slice());
        }
    }
}
