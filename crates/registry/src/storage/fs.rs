//! The filesystem storage driver: one file per object under a root directory.
//!
//! Small objects are written to a temporary file, fsynced and renamed into place; appends run
//! on a blocking thread fed through a bounded channel, so the network side and the disk side
//! overlap and memory stays bounded by the channel depth.

use super::{AppendError, ByteStream, Entry, Stat, Storage};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Size of the chunks blob reads are served in.
const READ_CHUNK: usize = 256 * 1024;
/// Reads up to this size are served as one chunk.
const SMALL_READ: u64 = 1024 * 1024;
/// Chunks in flight between the request body and the writer thread.
const WRITE_QUEUE: usize = 32;
/// Writes are coalesced up to this size before reaching the kernel.
const WRITE_BUFFER: usize = 1024 * 1024;

/// A [`Storage`] on a local directory.
#[derive(Debug, Clone)]
pub struct FileSystem {
    root: PathBuf,
}

impl FileSystem {
    /// Use (and create) `root` as the storage root.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<FileSystem> {
        let root = root.into();
        fs::create_dir_all(root.join("_tmp"))?;
        Ok(FileSystem { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        // Paths come from the registry's own layout; refuse anything that could escape anyway.
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..") {
            p.push(part);
        }
        p
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("_tmp").join(uuid::Uuid::new_v4().to_string())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Rename `from` onto `to` durably: parents exist, the rename is fsynced in the target directory.
fn rename_into_place(from: &Path, to: &Path) -> io::Result<()> {
    let parent = to.parent().ok_or_else(|| io::Error::other("object path has no parent"))?;
    fs::create_dir_all(parent)?;
    fs::rename(from, to)?;
    sync_dir(parent)
}

fn not_found_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

#[async_trait::async_trait]
impl Storage for FileSystem {
    async fn get(&self, path: &str) -> io::Result<Option<Bytes>> {
        not_found_is_none(tokio::fs::read(self.path(path)).await).map(|o| o.map(Bytes::from))
    }

    async fn put(&self, path: &str, data: Bytes) -> io::Result<()> {
        let (tmp, target) = (self.tmp_path(), self.path(path));
        blocking(move || {
            let result = (|| {
                let mut f = File::create(&tmp)?;
                f.write_all(&data)?;
                f.sync_all()?;
                rename_into_place(&tmp, &target)
            })();
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result
        })
        .await
    }

    async fn size(&self, path: &str) -> io::Result<Option<u64>> {
        let meta = not_found_is_none(tokio::fs::metadata(self.path(path)).await)?;
        Ok(meta.filter(|m| m.is_file()).map(|m| m.len()))
    }

    async fn read(&self, path: &str, offset: u64, len: Option<u64>) -> io::Result<Option<ByteStream>> {
        if let Some(n) = len.filter(|n| *n <= SMALL_READ) {
            // Small reads in one blocking call: one thread hop instead of one per step.
            let p = self.path(path);
            let data = blocking(move || {
                use std::io::Read;
                let Some(mut f) = not_found_is_none(File::open(&p))? else {
                    return Ok(None);
                };
                f.seek(SeekFrom::Start(offset))?;
                let mut buf = vec![0u8; n as usize];
                f.read_exact(&mut buf)?;
                Ok(Some(Bytes::from(buf)))
            })
            .await?;
            return Ok(data.map(|b| futures::stream::once(async move { Ok(b) }).boxed()));
        }
        let Some(mut file) = not_found_is_none(tokio::fs::File::open(self.path(path)).await)? else {
            return Ok(None);
        };
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).await?;
        }
        let remaining = len.unwrap_or(u64::MAX);
        let stream = futures::stream::try_unfold((file, remaining), move |(mut file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let mut buf = BytesMut::with_capacity(want);
            while buf.len() < want {
                let mut limited = (&mut file).take((want - buf.len()) as u64);
                if limited.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                if len.is_some() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "object shorter than requested"));
                }
                return Ok(None);
            }
            let n = buf.len() as u64;
            Ok(Some((buf.freeze(), (file, remaining - n))))
        });
        Ok(Some(stream.boxed()))
    }

    async fn append(&self, path: &str, offset: u64, mut data: ByteStream) -> Result<u64, AppendError> {
        let target = self.path(path);
        let file = blocking(move || {
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(&target)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len))?;
            Ok((file, len))
        })
        .await?;
        let (file, len) = file;
        if len != offset {
            return Err(AppendError::Offset(len));
        }
        // The writer thread owns the file; the body is forwarded to it in order.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<u64> {
            let mut out = io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut written = len;
            while let Some(chunk) = rx.blocking_recv() {
                out.write_all(&chunk)?;
                written += chunk.len() as u64;
            }
            out.flush()?;
            Ok(written)
        });
        let mut incoming_error = None;
        while let Some(item) = data.next().await {
            match item {
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    incoming_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer.await.map_err(io::Error::other)??;
        match incoming_error {
            Some(e) => Err(AppendError::Io(e)),
            None => Ok(written),
        }
    }

    async fn commit(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (self.path(from), self.path(to));
        blocking(move || {
            File::open(&from)?.sync_all()?;
            rename_into_place(&from, &to)
        })
        .await
    }

    async fn list(&self, dir: &str) -> io::Result<Vec<Entry>> {
        let dir = self.path(dir);
        blocking(move || {
            let Some(rd) = not_found_is_none(fs::read_dir(&dir))? else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for e in rd {
                let e = e?;
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                out.push(Entry { name, is_dir: e.file_type()?.is_dir() });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
    }

    async fn stat(&self, path: &str) -> io::Result<Option<Stat>> {
        let meta = not_found_is_none(tokio::fs::metadata(self.path(path)).await)?;
        Ok(meta.filter(|m| m.is_file()).map(|m| Stat { size: m.len(), modified: m.modified().ok() }))
    }

    async fn delete(&self, path: &str) -> io::Result<()> {
        let p = self.path(path);
        blocking(move || {
            let Some(meta) = not_found_is_none(fs::symlink_metadata(&p))? else {
                return Ok(());
            };
            let r = if meta.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            not_found_is_none(r).map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()).boxed()
    }

    async fn collect(s: ByteStream) -> Vec<u8> {
        let parts: Vec<Bytes> = s.map(|r| r.expect("read")).collect().await;
        parts.concat()
    }

    #[tokio::test]
    async fn put_get_append_commit_list_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = FileSystem::new(dir.path()).expect("fs");
        assert_eq!(fs.get("a/b").await.expect("get"), None);
        fs.put("a/b", Bytes::from_static(b"hello")).await.expect("put");
        assert_eq!(fs.get("a/b").await.expect("get").as_deref(), Some(&b"hello"[..]));

        assert_eq!(fs.append("up/data", 0, chunks(&[b"ab", b"cd"])).await.expect("append"), 4);
        match fs.append("up/data", 2, chunks(&[b"x"])).await {
            Err(AppendError::Offset(4)) => {}
            other => panic!("expected offset mismatch, got {other:?}"),
        }
        assert_eq!(fs.append("up/data", 4, chunks(&[b"ef"])).await.expect("append"), 6);
        let part = fs.read("up/data", 1, Some(3)).await.expect("read").expect("exists");
        assert_eq!(collect(part).await, b"bcd");
        fs.commit("up/data", "blobs/x").await.expect("commit");
        assert_eq!(fs.size("up/data").await.expect("size"), None);
        assert_eq!(fs.size("blobs/x").await.expect("size"), Some(6));
        let names: Vec<String> = fs.list("").await.expect("list").into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"blobs".to_string()) && names.contains(&"a".to_string()));
        fs.delete("a").await.expect("delete");
        fs.delete("a").await.expect("delete missing");
        assert_eq!(fs.get("a/b").await.expect("get"), None);
    }
}
