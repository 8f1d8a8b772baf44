//! File storage settings: bucket folders, public reads and the upload limit.

use std::path::{Path, PathBuf};

use super::{ConfigError, Env};

/// `MAX_UPLOAD_BYTES` when unset: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// `ASSET_FOLDER`: the `assets` bucket (default DATA_DIR/storage/assets).
    pub asset_folder: PathBuf,
    /// `ASSET_TEMP_FOLDER`: the `temp` bucket (default DATA_DIR/storage/temp).
    pub temp_folder: PathBuf,
    /// `PUBLIC_STORAGE`: `GET|HEAD /storage/...` without credentials (default false).
    pub public: bool,
    /// `MAX_UPLOAD_BYTES`: largest upload accepted (413 beyond).
    pub max_upload_bytes: u64,
}

pub fn load(env: &Env<'_>, data_dir: &Path) -> Result<StorageConfig, ConfigError> {
    let folder = |var: &str, default: &str| {
        env.get(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("storage").join(default))
    };
    let public = match env.get("PUBLIC_STORAGE") {
        None => false,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::invalid(
                    "PUBLIC_STORAGE",
                    &v,
                    "expected true or false",
                ))
            }
        },
    };
    let max_upload_bytes = env
        .parse::<u64>("MAX_UPLOAD_BYTES", "expected a number of bytes")?
        .unwrap_or(DEFAULT_MAX_UPLOAD_BYTES);
    if max_upload_bytes == 0 {
        return Err(ConfigError::invalid(
            "MAX_UPLOAD_BYTES",
            "0",
            "expected at least 1 byte",
        ));
    }
    Ok(StorageConfig {
        asset_folder: folder("ASSET_FOLDER", "assets"),
        temp_folder: folder("ASSET_TEMP_FOLDER", "temp"),
        public,
        max_upload_bytes,
    })
}
