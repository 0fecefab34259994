//! What the archiver stored: listing an instance's objects, and copying them to a local folder
//! so the user can open them after moto_server has stopped.

use std::path::{Component, Path, PathBuf};

use crate::error::RunError;

/// One object in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Every object under `prefix` (all pages).
pub async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectInfo>, RunError> {
    let mut objects = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| RunError::aws("S3 ListObjectsV2", e))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                objects.push(ObjectInfo {
                    key: key.to_owned(),
                    size: object
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                });
            }
        }
    }
    Ok(objects)
}

/// The local path for `key` under `folder`. Keys are split at `/`; a key with an empty, `.`
/// or `..` segment, or anything that would leave `folder`, is refused rather than written.
pub fn local_path(folder: &Path, key: &str) -> Option<PathBuf> {
    let mut path = folder.to_path_buf();
    for segment in key.split('/') {
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if !segment.contains('\\') => path.push(name),
            _ => return None,
        }
    }
    Some(path)
}

/// Copies `objects` into `folder`, one file per key, streaming each body to disk (a 1 GiB
/// attachment never sits in memory). Existing files with the same key are overwritten.
pub async fn mirror(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    objects: &[ObjectInfo],
    folder: &Path,
) -> Result<(), RunError> {
    for object in objects {
        let path = local_path(folder, &object.key).ok_or_else(|| {
            RunError::Setup(format!(
                "refusing to copy object {:?}: its key is not a plain relative path",
                object.key
            ))
        })?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| RunError::io(parent, e))?;
        }
        let response = s3
            .get_object()
            .bucket(bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| RunError::aws("S3 GetObject", e))?;
        let mut body = response.body.into_async_read();
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| RunError::io(&path, e))?;
        tokio::io::copy(&mut body, &mut file)
            .await
            .map_err(|e| RunError::io(&path, e))?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| RunError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_paths_inside_the_folder_only() {
        let folder = Path::new("/tmp/out");
        assert_eq!(
            local_path(folder, "ttd/app/1/guid/data/abc"),
            Some(PathBuf::from("/tmp/out/ttd/app/1/guid/data/abc"))
        );
        for bad in [
            "../x", "a/../b", "/abs", "a//b", "a/./b", "", "a\\..\\b", "a/",
        ] {
            assert_eq!(local_path(folder, bad), None, "{bad:?}");
        }
    }
}
