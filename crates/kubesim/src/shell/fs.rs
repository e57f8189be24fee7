//! The virtual file system of one simulated container: directories and small files in memory,
//! shared by every exec session into that container (what one session writes, the next reads)
//! and bounded in bytes and entries so no session can exhaust the simulator's memory.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Bytes of file content one container may hold.
pub const MAX_BYTES: usize = 512 * 1024;
/// Files and directories one container may hold.
pub const MAX_NODES: usize = 1024;

#[derive(Clone, Debug)]
pub enum Node {
    Dir { modified: DateTime<Utc> },
    File { data: Vec<u8>, modified: DateTime<Utc> },
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self, Node::Dir { .. })
    }

    pub fn modified(&self) -> DateTime<Utc> {
        match self {
            Node::Dir { modified } | Node::File { modified, .. } => *modified,
        }
    }

    /// What `ls -l` shows as the size.
    pub fn size(&self) -> usize {
        match self {
            Node::Dir { .. } => 4096,
            Node::File { data, .. } => data.len(),
        }
    }
}

/// Why a file operation failed, in the words of a Unix error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    IsDir,
    NotDir,
    Exists,
    NotEmpty,
    NoSpace,
    Busy,
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::IsDir => "Is a directory",
            FsError::NotDir => "Not a directory",
            FsError::Exists => "File exists",
            FsError::NotEmpty => "Directory not empty",
            FsError::NoSpace => "No space left on device",
            FsError::Busy => "Device or resource busy",
        })
    }
}

/// Files by absolute, normalised path (`/`, `/etc`, `/etc/hostname`).
#[derive(Clone, Debug)]
pub struct Fs {
    nodes: BTreeMap<String, Node>,
    bytes: usize,
}

impl Default for Fs {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::Dir { modified: Utc::now() });
        Fs { nodes, bytes: 0 }
    }
}

/// `path` made absolute against `cwd`, with `.`, `..` and repeated slashes resolved.
pub fn resolve(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{cwd}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of `path`.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("/")
}

impl Fs {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn is_dir(&self, path: &str) -> bool {
        self.nodes.get(path).is_some_and(Node::is_dir)
    }

    /// Bytes of content held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn read(&self, path: &str) -> Result<&[u8], FsError> {
        match self.nodes.get(path) {
            Some(Node::File { data, .. }) => Ok(data),
            Some(Node::Dir { .. }) => Err(FsError::IsDir),
            None => Err(self.missing(path)),
        }
    }

    /// NotDir when a component of the path is a file, else NotFound.
    fn missing(&self, path: &str) -> FsError {
        let mut p = parent(path);
        loop {
            match self.nodes.get(p) {
                Some(Node::File { .. }) => return FsError::NotDir,
                Some(Node::Dir { .. }) => return FsError::NotFound,
                None if p == "/" => return FsError::NotFound,
                None => p = parent(p),
            }
        }
    }

    fn check_parent(&self, path: &str) -> Result<(), FsError> {
        match self.nodes.get(parent(path)) {
            Some(Node::Dir { .. }) => Ok(()),
            Some(Node::File { .. }) => Err(FsError::NotDir),
            None => Err(self.missing(parent(path))),
        }
    }

    /// Writes (or, with `append`, appends to) the file at `path`, creating it in an existing
    /// directory.
    pub fn write(&mut self, path: &str, data: &[u8], append: bool) -> Result<(), FsError> {
        if path == "/dev/null" {
            return Ok(());
        }
        self.check_parent(path)?;
        let old = match self.nodes.get(path) {
            Some(Node::Dir { .. }) => return Err(FsError::IsDir),
            Some(Node::File { data, .. }) => data.len(),
            None if self.nodes.len() >= MAX_NODES => return Err(FsError::NoSpace),
            None => 0,
        };
        let new_len = if append { old + data.len() } else { data.len() };
        if self.bytes - old + new_len > MAX_BYTES {
            return Err(FsError::NoSpace);
        }
        self.bytes = self.bytes - old + new_len;
        let now = Utc::now();
        match self.nodes.get_mut(path) {
            Some(Node::File { data: existing, modified }) if append => {
                existing.extend_from_slice(data);
                *modified = now;
            }
            _ => {
                self.nodes.insert(path.to_string(), Node::File { data: data.to_vec(), modified: now });
            }
        }
        Ok(())
    }

    /// `touch`: creates an empty file or marks an existing one modified now.
    pub fn touch(&mut self, path: &str) -> Result<(), FsError> {
        match self.nodes.get_mut(path) {
            Some(Node::File { modified, .. }) | Some(Node::Dir { modified }) => {
                *modified = Utc::now();
                Ok(())
            }
            None => self.write(path, b"", false),
        }
    }

    /// `mkdir` (`parents`: `mkdir -p`, which also accepts an existing directory).
    pub fn mkdir(&mut self, path: &str, parents: bool) -> Result<(), FsError> {
        if let Some(node) = self.nodes.get(path) {
            return if parents && node.is_dir() { Ok(()) } else { Err(FsError::Exists) };
        }
        if parents && path != "/" && !self.nodes.contains_key(parent(path)) {
            self.mkdir(parent(path), true)?;
        }
        self.check_parent(path)?;
        if self.nodes.len() >= MAX_NODES {
            return Err(FsError::NoSpace);
        }
        self.nodes.insert(path.to_string(), Node::Dir { modified: Utc::now() });
        Ok(())
    }

    /// `rm` (`recursive`: `rm -r`, which removes a directory with everything in it).
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FsError> {
        if path == "/" {
            return Err(FsError::Busy);
        }
        match self.nodes.get(path) {
            None => Err(self.missing(path)),
            Some(Node::File { data, .. }) => {
                self.bytes -= data.len();
                self.nodes.remove(path);
                Ok(())
            }
            Some(Node::Dir { .. }) => {
                let prefix = format!("{path}/");
                let inside: Vec<String> = self
                    .nodes
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !recursive {
                    return Err(if inside.is_empty() { FsError::IsDir } else { FsError::NotEmpty });
                }
                for k in inside {
                    if let Some(Node::File { data, .. }) = self.nodes.remove(&k) {
                        self.bytes -= data.len();
                    }
                }
                self.nodes.remove(path);
                Ok(())
            }
        }
    }

    /// The entries directly inside directory `path`, by name.
    pub fn list(&self, path: &str) -> Result<Vec<(&str, &Node)>, FsError> {
        match self.nodes.get(path) {
            None => return Err(self.missing(path)),
            Some(Node::File { .. }) => return Err(FsError::NotDir),
            Some(Node::Dir { .. }) => {}
        }
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        Ok(self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, n)| {
                let rest = &k[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then_some((rest, n))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_working_directory() {
        assert_eq!(resolve("/", "etc"), "/etc");
        assert_eq!(resolve("/etc", "../var/./log/"), "/var/log");
        assert_eq!(resolve("/a/b", "/x//y"), "/x/y");
        assert_eq!(resolve("/", "../.."), "/");
        assert_eq!(base_name("/etc/hostname"), "hostname");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn files_directories_and_their_errors() {
        let mut fs = Fs::default();
        fs.mkdir("/etc", false).unwrap();
        fs.write("/etc/hostname", b"web\n", false).unwrap();
        fs.write("/etc/hostname", b"more\n", true).unwrap();
        assert_eq!(fs.read("/etc/hostname").unwrap(), b"web\nmore\n");
        assert_eq!(fs.bytes(), 9);
        assert_eq!(fs.read("/etc"), Err(FsError::IsDir));
        assert_eq!(fs.read("/nope"), Err(FsError::NotFound));
        assert_eq!(fs.read("/etc/hostname/x"), Err(FsError::NotDir));
        assert_eq!(fs.write("/no/such", b"", false), Err(FsError::NotFound));
        assert_eq!(fs.mkdir("/etc", false), Err(FsError::Exists));
        fs.mkdir("/a/b/c", true).unwrap();
        assert!(fs.is_dir("/a/b"));
        let names: Vec<&str> = fs.list("/").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "etc"]);
        assert_eq!(fs.remove("/a", false), Err(FsError::NotEmpty));
        fs.remove("/a", true).unwrap();
        assert!(fs.get("/a/b/c").is_none());
        fs.remove("/etc/hostname", false).unwrap();
        assert_eq!(fs.bytes(), 0);
        assert_eq!(fs.remove("/", true), Err(FsError::Busy));
        fs.write("/dev/null", b"gone", false).unwrap();
        assert!(fs.get("/dev/null").is_none());
    }

    #[test]
    fn a_container_holds_a_bounded_amount() {
        let mut fs = Fs::default();
        let big = vec![b'x'; MAX_BYTES];
        fs.write("/big", &big, false).unwrap();
        assert_eq!(fs.write("/one-more", b"x", false), Err(FsError::NoSpace));
        assert_eq!(fs.write("/big", b"x", true), Err(FsError::NoSpace));
        fs.write("/big", b"small", false).unwrap();
        assert_eq!(fs.bytes(), 5);
        for i in 0..MAX_NODES {
            if fs.touch(&format!("/f{i}")).is_err() {
                return;
            }
        }
        panic!("the number of files is not bounded");
    }
}
