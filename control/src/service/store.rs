//! Durable, versioned configuration storage: one JSON file per version in `STATE_DIR/versions/`, written to a
//! temporary file, fsynced, renamed into place and the directory fsynced, so a crash leaves either the old set
//! of versions or the new one, never a torn file. The last `keep` versions stay; older ones are deleted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use mgmt_api::api::VersionInfo;
use mgmt_api::Config;
use serde::{Deserialize, Serialize};

/// Versions kept when nothing else is said.
pub const DEFAULT_KEEP: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not a stored configuration version: {message}")]
    Corrupt { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One version file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    pub version: u64,
    pub created_unix: u64,
    pub origin: String,
    pub config: Config,
}

impl StoredVersion {
    pub fn info(&self) -> VersionInfo {
        VersionInfo {
            version: self.version,
            created_unix: self.created_unix,
            origin: self.origin.clone(),
        }
    }
}

/// The versions directory and what it holds (metadata in memory, configurations read on demand).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    keep: usize,
    /// Kept versions, oldest first.
    versions: Vec<VersionInfo>,
}

impl Store {
    /// Opens (creating it if needed) `state_dir/versions` and reads every version file in it. A file that does
    /// not parse is an error: the operator looks at it rather than have a version silently disappear.
    pub fn open(state_dir: &Path, keep: usize) -> Result<Store, StoreError> {
        let dir = state_dir.join("versions");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut versions = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                // A temporary file left by a crash between write and rename: never a version.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let stored = read_version_file(&entry.path())?;
            versions.push(stored.info());
        }
        versions.sort_by_key(|v| v.version);
        Ok(Store {
            dir,
            keep: keep.max(1),
            versions,
        })
    }

    /// Kept versions, oldest first.
    pub fn versions(&self) -> &[VersionInfo] {
        &self.versions
    }

    pub fn latest(&self) -> Option<&VersionInfo> {
        self.versions.last()
    }

    fn path_of(&self, version: u64) -> PathBuf {
        self.dir.join(format!("{version:020}.json"))
    }

    /// Reads a kept version; `Ok(None)` when it is not kept.
    pub fn load(&self, version: u64) -> Result<Option<StoredVersion>, StoreError> {
        if !self.versions.iter().any(|v| v.version == version) {
            return Ok(None);
        }
        read_version_file(&self.path_of(version)).map(Some)
    }

    /// Stores `config` as `version` durably, then deletes the versions beyond the last `keep`.
    pub fn save(
        &mut self,
        version: u64,
        origin: &str,
        config: &Config,
    ) -> Result<VersionInfo, StoreError> {
        let stored = StoredVersion {
            version,
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            origin: origin.to_owned(),
            config: config.clone(),
        };
        let body = serde_json::to_vec_pretty(&stored).expect("a Config serializes to JSON");
        let path = self.path_of(version);
        let tmp = self.dir.join(format!(".{version:020}.json.tmp"));
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&body).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        // The rename is durable once the directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        let info = stored.info();
        self.versions.retain(|v| v.version != version);
        self.versions.push(info.clone());
        self.versions.sort_by_key(|v| v.version);
        while self.versions.len() > self.keep {
            let old = self.versions.remove(0);
            let p = self.path_of(old.version);
            if let Err(e) = fs::remove_file(&p) {
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(StoreError::Io { path: p, source: e });
                }
            }
        }
        Ok(info)
    }
}

fn read_version_file(path: &Path) -> Result<StoredVersion, StoreError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let stored: StoredVersion = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let expect = format!("{:020}.json", stored.version);
    if path.file_name().and_then(|n| n.to_str()) != Some(expect.as_str()) {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            message: format!("holds version {}", stored.version),
        });
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgmt_api::config::Tenant;

    pub(crate) fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "xlat64-store-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn saves_reopens_and_prunes() {
        let dir = tmpdir("prune");
        let mut s = Store::open(&dir, 3).unwrap();
        assert!(s.latest().is_none());
        for v in 1..=5u64 {
            let mut c = Config::default();
            c.tenants.push(Tenant::new(format!("t{v}"), v as u32));
            s.save(v, "test", &c).unwrap();
        }
        let kept: Vec<u64> = s.versions().iter().map(|v| v.version).collect();
        assert_eq!(kept, [3, 4, 5]);
        assert!(s.load(1).unwrap().is_none());
        // A crash between write and rename leaves a temporary file: ignored and removed.
        fs::write(dir.join("versions/.00000000000000000006.json.tmp"), "{").unwrap();
        let s = Store::open(&dir, 3).unwrap();
        assert_eq!(s.latest().unwrap().version, 5);
        assert_eq!(s.load(4).unwrap().unwrap().config.tenants[0].name, "t4");
        assert!(!dir.join("versions/.00000000000000000006.json.tmp").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_file_is_reported() {
        let dir = tmpdir("corrupt");
        fs::create_dir_all(dir.join("versions")).unwrap();
        fs::write(dir.join("versions/00000000000000000001.json"), "{").unwrap();
        let e = Store::open(&dir, 3).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }
}
