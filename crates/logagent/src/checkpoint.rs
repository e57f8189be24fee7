//! Read positions, checkpointed in the state directory only once the sink has acknowledged the
//! lines before them (at-least-once: after a crash, what was not acknowledged is read again).
//! The file is replaced atomically (write a temporary file, fsync, rename, fsync the directory).

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

use crate::buffer::Record;

/// Where a stream is: the file (inode) and the offset past the last acknowledged line.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Pos {
    pub file_id: u64,
    pub offset: u64,
}

pub struct Checkpoints {
    path: PathBuf,
    map: Mutex<BTreeMap<String, Pos>>,
}

impl Checkpoints {
    /// Loads DIR/positions.json (absent: nothing read yet).
    pub fn load(dir: &Path) -> anyhow::Result<Checkpoints> {
        let path = dir.join("positions.json");
        let map = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not a positions file ({e}): remove it to read every file from its start",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        Ok(Checkpoints { path, map: Mutex::new(map) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pos>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, stream: &str) -> Option<Pos> {
        self.lock().get(stream).copied()
    }

    pub fn all(&self) -> BTreeMap<String, Pos> {
        self.lock().clone()
    }

    /// Moves the streams of `acked` (in the order they were read) to their last record, and
    /// saves.
    pub fn ack(&self, acked: &[Record]) -> std::io::Result<()> {
        if acked.is_empty() {
            return Ok(());
        }
        let snapshot = {
            let mut m = self.lock();
            for r in acked {
                m.insert(r.stream.to_string(), Pos { file_id: r.file_id, offset: r.offset });
            }
            m.clone()
        };
        self.save(&snapshot)
    }

    /// Forgets a stream whose file is gone and fully read.
    pub fn remove(&self, stream: &str) -> std::io::Result<()> {
        let snapshot = {
            let mut m = self.lock();
            if m.remove(stream).is_none() {
                return Ok(());
            }
            m.clone()
        };
        self.save(&snapshot)
    }

    fn save(&self, map: &BTreeMap<String, Pos>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec(map).map_err(std::io::Error::other)?;
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn acks_survive_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Checkpoints::load(dir.path()).expect("load");
        let rec = |s: &str, i, o| Record { stream: Arc::from(s), file_id: i, offset: o, dest: 0, doc: String::new() };
        c.ack(&[rec("a", 1, 10), rec("b", 2, 5), rec("a", 1, 20)]).expect("ack");
        let again = Checkpoints::load(dir.path()).expect("reload");
        assert_eq!(again.get("a"), Some(Pos { file_id: 1, offset: 20 }));
        assert_eq!(again.get("b"), Some(Pos { file_id: 2, offset: 5 }));
        again.remove("a").expect("remove");
        assert_eq!(Checkpoints::load(dir.path()).expect("reload").get("a"), None);
        fs::write(dir.path().join("positions.json"), "nonsense").expect("write");
        assert!(Checkpoints::load(dir.path()).is_err());
    }
}
