//! Reading and pruning the hub cache: a scan shaped like huggingface_hub's `scan_cache_dir`,
//! the bytes it holds, and removing one repository. Blocking file-system work: callers run it
//! on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct CacheInfo {
    pub size_on_disk: u64,
    pub repos: Vec<RepoInfo>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RepoInfo {
    pub repo_id: String,
    pub repo_type: String,
    pub repo_path: String,
    pub size_on_disk: u64,
    pub nb_files: usize,
    pub revisions: Vec<RevisionInfo>,
}

#[derive(Debug, Serialize)]
pub struct RevisionInfo {
    pub commit_hash: String,
    pub size_on_disk: u64,
    pub snapshot_path: String,
    pub refs: Vec<String>,
    pub files: Vec<FileInfo>,
}

#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub file_name: String,
    pub file_path: String,
    pub blob_path: String,
    pub size_on_disk: u64,
}

/// Every repository under `cache`; a damaged one becomes a warning instead of failing the scan.
/// A missing cache is an empty one.
pub fn scan(cache: &Path) -> CacheInfo {
    let mut info = CacheInfo {
        size_on_disk: 0,
        repos: Vec::new(),
        warnings: Vec::new(),
    };
    let Ok(entries) = std::fs::read_dir(cache) else {
        return info;
    };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    dirs.sort();
    for dir in dirs {
        let name = file_name(&dir);
        if name.starts_with('.') || name == "CACHEDIR.TAG" {
            continue;
        }
        match scan_repo(&dir) {
            Ok(repo) => {
                info.size_on_disk += repo.size_on_disk;
                info.repos.push(repo);
            }
            Err(why) => info.warnings.push(why),
        }
    }
    info
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn scan_repo(dir: &Path) -> Result<RepoInfo, String> {
    let name = file_name(dir);
    if !dir.is_dir() {
        return Err(format!(
            "Scan cache expects a folder, found a file: {}",
            dir.display()
        ));
    }
    let (kind, id) = name
        .split_once("--")
        .filter(|(k, _)| matches!(*k, "models" | "datasets" | "spaces"))
        .ok_or_else(|| format!("Not a valid Hugging Face cache folder: {}", dir.display()))?;
    let snapshots = dir.join("snapshots");
    if !snapshots.is_dir() {
        return Err(format!("Snapshots folder missing in {}", dir.display()));
    }
    let mut refs = read_refs(&dir.join("refs"))?;
    let mut blob_sizes: HashMap<PathBuf, u64> = HashMap::new();
    let mut revisions = Vec::new();
    let mut commits: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .map_err(|e| format!("Cannot read {}: {e}", snapshots.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    commits.sort();
    for snapshot in commits {
        if !snapshot.is_dir() {
            return Err(format!("Snapshot is a file: {}", snapshot.display()));
        }
        let mut files = Vec::new();
        let mut rev_blobs: HashMap<PathBuf, u64> = HashMap::new();
        for path in
            walk_files(&snapshot).map_err(|e| format!("Cannot read {}: {e}", snapshot.display()))?
        {
            let blob = std::fs::canonicalize(&path)
                .map_err(|_| format!("Blob missing (broken link): {}", path.display()))?;
            let size = std::fs::metadata(&blob)
                .map_err(|e| format!("Cannot read {}: {e}", blob.display()))?
                .len();
            blob_sizes.insert(blob.clone(), size);
            rev_blobs.insert(blob.clone(), size);
            files.push(FileInfo {
                file_name: file_name(&path),
                file_path: path.display().to_string(),
                blob_path: blob.display().to_string(),
                size_on_disk: size,
            });
        }
        files.sort_by(|a, b| a.file_path.cmp(&b.file_path));
        let commit = file_name(&snapshot);
        revisions.push(RevisionInfo {
            refs: refs.remove(&commit).unwrap_or_default(),
            commit_hash: commit,
            size_on_disk: rev_blobs.values().sum(),
            snapshot_path: snapshot.display().to_string(),
            files,
        });
    }
    if let Some((commit, _)) = refs.into_iter().next() {
        return Err(format!(
            "Reference to a missing commit {commit} in {}",
            dir.display()
        ));
    }
    Ok(RepoInfo {
        repo_id: id.replace("--", "/"),
        repo_type: kind.trim_end_matches('s').to_owned(),
        repo_path: dir.display().to_string(),
        size_on_disk: blob_sizes.values().sum(),
        nb_files: blob_sizes.len(),
        revisions,
    })
}

/// `refs/<name>` files: commit → the names pointing at it.
fn read_refs(dir: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for path in walk_files(dir).map_err(|e| format!("Cannot read {}: {e}", dir.display()))? {
        let name = path
            .strip_prefix(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let commit = std::fs::read_to_string(&path)
            .map_err(|e| format!("Cannot read {}: {e}", path.display()))?;
        out.entry(commit.trim().to_owned()).or_default().push(name);
    }
    Ok(out)
}

/// Every non-folder entry below `dir` (links included, not followed into folders).
fn walk_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                todo.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// Bytes of the regular files below `dir` (links not followed, so each blob counts once).
pub fn size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => todo.push(entry.path()),
                Ok(t) if t.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// Removes a repository folder; `false` when it was not there.
pub fn delete(repo_dir: &Path) -> io::Result<bool> {
    match std::fs::remove_dir_all(repo_dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reads_the_layout_and_warns_about_damage() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("models--org--name");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots/abc/sub")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("blobs/e1"), b"12345").unwrap();
        std::os::unix::fs::symlink("../../blobs/e1", repo.join("snapshots/abc/a.txt")).unwrap();
        std::os::unix::fs::symlink("../../../blobs/e1", repo.join("snapshots/abc/sub/b.txt"))
            .unwrap();
        std::fs::write(repo.join("refs/main"), "abc").unwrap();
        std::fs::create_dir_all(dir.path().join("junk")).unwrap();

        let info = scan(dir.path());
        assert_eq!(info.repos.len(), 1, "{info:?}");
        let r = &info.repos[0];
        assert_eq!(
            (r.repo_id.as_str(), r.repo_type.as_str()),
            ("org/name", "model")
        );
        assert_eq!((r.size_on_disk, r.nb_files), (5, 1));
        assert_eq!(r.revisions[0].files.len(), 2);
        assert_eq!(r.revisions[0].refs, vec!["main".to_string()]);
        assert_eq!(info.warnings.len(), 1);
        assert_eq!(
            size(dir.path()),
            5 + 3,
            "the blob and the ref, not the links"
        );
        assert!(delete(&repo).unwrap());
        assert!(!delete(&repo).unwrap());
        assert!(scan(&dir.path().join("nowhere")).repos.is_empty());
    }
}
