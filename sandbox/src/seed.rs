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
