//! The filesystem's state, as a disk with a volatile cache in front of it would have it.
//!
//! Every file has a *current* content (what reads see now: the page cache) and a *durable*
//! content (what is on the platter); every directory has current entries and durable entries.
//!
//! - Writes, truncates, creates, renames and unlinks change only the current state.
//! - `fsync`/`fdatasync` of a file copies its current content to its durable content, and
//!   makes its current name durable, with the names of the directories above it (as a
//!   journalling filesystem that commits the inode's creation along with its data would).
//! - `fsync` of a directory makes its current entries durable (a file whose name is durable
//!   but whose data never was comes back empty), and its own name.
//! - A power cut ([`Model::power_cut`]) makes the durable state the current one: directories
//!   get their durable entries back, nodes no durable entry reaches disappear, files revert to
//!   their durable content. Metadata other than names and content (mode, owner, times) is not
//!   modelled as durable: it stays as it was.
//!
//! Hard links and symbolic links are not supported (SQLite needs neither), so every node has
//! at most one current name ([`Node::link`]) and one durable name ([`Node::durable_link`]).
//! A node is dropped once it has neither and no open handle.
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::time::SystemTime;

pub type Ino = u64;

/// The root directory's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT: Ino = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Why an operation failed; the FUSE layer maps these to errno values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsError {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
    Invalid,
}

/// What `stat` shows of a node.
#[derive(Clone, Debug)]
pub struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

/// Changes to a node's metadata (`setattr`); `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SetAttr {
    pub perm: Option<u16>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<SystemTime>,
    pub mtime: Option<SystemTime>,
}

/// What a power cut did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cut {
    /// Files left after the cut.
    pub files: usize,
    /// Files whose content went back to an older (durable) version.
    pub files_reverted: usize,
    /// Files that disappeared (their name was never made durable).
    pub files_removed: usize,
    /// Bytes of current content that the durable content did not hold.
    pub bytes_dropped: u64,
    /// Every node known before the cut (for the kernel's caches to be invalidated).
    pub inodes: Vec<Ino>,
    /// Directory entries whose target changed or vanished.
    pub entries: Vec<(Ino, OsString)>,
}

struct Node {
    kind: Kind,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// The node's current name: (parent, name). `None` for the root and unlinked files.
    link: Option<(Ino, OsString)>,
    /// The name a power cut keeps.
    durable_link: Option<(Ino, OsString)>,
    data: Vec<u8>,
    /// `None` until the file is first synced.
    durable_data: Option<Vec<u8>>,
    entries: BTreeMap<OsString, Ino>,
    durable_entries: BTreeMap<OsString, Ino>,
    open: u32,
}

impl Node {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32, link: Option<(Ino, OsString)>) -> Node {
        let now = SystemTime::now();
        Node {
            kind,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            link,
            durable_link: None,
            data: Vec::new(),
            durable_data: None,
            entries: BTreeMap::new(),
            durable_entries: BTreeMap::new(),
            open: 0,
        }
    }
}

pub struct Model {
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
}

impl Default for Model {
    fn default() -> Self {
        Model::new(0, 0)
    }
}

impl Model {
    /// An empty filesystem whose root belongs to `uid`:`gid`. The root is always durable.
    pub fn new(uid: u32, gid: u32) -> Model {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, Node::new(Kind::Dir, 0o755, uid, gid, None));
        Model { nodes, next_ino: ROOT + 1 }
    }

    fn node(&self, ino: Ino) -> Result<&Node, FsError> {
        self.nodes.get(&ino).ok_or(FsError::NotFound)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Node, FsError> {
        self.nodes.get_mut(&ino).ok_or(FsError::NotFound)
    }

    fn dir(&self, ino: Ino) -> Result<&Node, FsError> {
        let node = self.node(ino)?;
        if node.kind == Kind::Dir { Ok(node) } else { Err(FsError::NotDir) }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Node, FsError> {
        let node = self.node_mut(ino)?;
        if node.kind == Kind::File { Ok(node) } else { Err(FsError::IsDir) }
    }

    pub fn attr(&self, ino: Ino) -> Result<Attr, FsError> {
        let n = self.node(ino)?;
        let nlink = match n.kind {
            Kind::Dir => 2 + n.entries.values().filter(|c| self.nodes[c].kind == Kind::Dir).count() as u32,
            Kind::File => u32::from(n.link.is_some()),
        };
        Ok(Attr {
            ino,
            kind: n.kind,
            size: n.data.len() as u64,
            perm: n.perm,
            nlink,
            uid: n.uid,
            gid: n.gid,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr, FsError> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(FsError::NotFound)?;
        self.attr(ino)
    }

    /// Every node there is, in order.
    pub fn inodes(&self) -> Vec<Ino> {
        let mut inodes: Vec<Ino> = self.nodes.keys().copied().collect();
        inodes.sort_unstable();
        inodes
    }

    /// The parent of a directory (the root is its own parent).
    pub fn parent(&self, ino: Ino) -> Result<Ino, FsError> {
        Ok(self.node(ino)?.link.as_ref().map_or(ROOT, |(p, _)| *p))
    }

    /// The current entries of a directory, by name.
    pub fn entries(&self, ino: Ino) -> Result<Vec<(Ino, Kind, OsString)>, FsError> {
        let dir = self.dir(ino)?;
        Ok(dir.entries.iter().map(|(name, c)| (*c, self.nodes[c].kind, name.clone())).collect())
    }

    /// Creates a file or directory `name` in `parent`.
    pub fn create(
        &mut self,
        parent: Ino,
        name: &OsStr,
        kind: Kind,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, FsError> {
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(FsError::Exists);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, Node::new(kind, perm, uid, gid, Some((parent, name.to_owned()))));
        let dir = self.node_mut(parent)?;
        dir.entries.insert(name.to_owned(), ino);
        touch(dir);
        self.attr(ino)
    }

    /// Removes the file `name` from `parent` (its data lives on while it is open).
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let child = *self.dir(parent)?.entries.get(name).ok_or(FsError::NotFound)?;
        if self.node(child)?.kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        self.detach(parent, name, child);
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), FsError> {
        let child = *self.dir(parent)?.entries.get(name).ok_or(FsError::NotFound)?;
        if !self.dir(child)?.entries.is_empty() {
            return Err(FsError::NotEmpty);
        }
        self.detach(parent, name, child);
        Ok(())
    }

    fn detach(&mut self, parent: Ino, name: &OsStr, child: Ino) {
        let dir = self.nodes.get_mut(&parent).expect("parent exists");
        dir.entries.remove(name);
        touch(dir);
        if let Some(node) = self.nodes.get_mut(&child) {
            node.link = None;
            node.ctime = SystemTime::now();
        }
        self.collect(child);
    }

    /// Moves `parent/name` to `new_parent/new_name`, replacing what is there unless
    /// `no_replace`.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), FsError> {
        let src = *self.dir(parent)?.entries.get(name).ok_or(FsError::NotFound)?;
        let dst = self.dir(new_parent)?.entries.get(new_name).copied();
        let src_kind = self.node(src)?.kind;
        if src_kind == Kind::Dir {
            // A directory cannot move below itself.
            let mut at = new_parent;
            loop {
                if at == src {
                    return Err(FsError::Invalid);
                }
                match &self.node(at)?.link {
                    Some((p, _)) => at = *p,
                    None => break,
                }
            }
        }
        if let Some(dst) = dst {
            if dst == src {
                return Ok(());
            }
            if no_replace {
                return Err(FsError::Exists);
            }
            let d = self.node(dst)?;
            match (src_kind, d.kind) {
                (Kind::Dir, Kind::File) => return Err(FsError::NotDir),
                (Kind::File, Kind::Dir) => return Err(FsError::IsDir),
                (Kind::Dir, Kind::Dir) if !d.entries.is_empty() => return Err(FsError::NotEmpty),
                _ => {}
            }
            self.detach(new_parent, new_name, dst);
        }
        let from = self.node_mut(parent)?;
        from.entries.remove(name);
        touch(from);
        let to = self.node_mut(new_parent)?;
        to.entries.insert(new_name.to_owned(), src);
        touch(to);
        let node = self.node_mut(src)?;
        node.link = Some((new_parent, new_name.to_owned()));
        node.ctime = SystemTime::now();
        Ok(())
    }

    pub fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, FsError> {
        let node = self.node(ino)?;
        if node.kind != Kind::File {
            return Err(FsError::IsDir);
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(node.data.len());
        let end = start.saturating_add(size as usize).min(node.data.len());
        Ok(node.data[start..end].to_vec())
    }

    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize, FsError> {
        let node = self.file_mut(ino)?;
        let start = usize::try_from(offset).map_err(|_| FsError::Invalid)?;
        let end = start.checked_add(data.len()).ok_or(FsError::Invalid)?;
        if node.data.len() < end {
            node.data.resize(end, 0);
        }
        node.data[start..end].copy_from_slice(data);
        touch(node);
        Ok(data.len())
    }

    /// Makes room for `offset + len` bytes (`fallocate` mode 0): never shrinks.
    pub fn allocate(&mut self, ino: Ino, offset: u64, len: u64) -> Result<(), FsError> {
        let node = self.file_mut(ino)?;
        let end = usize::try_from(offset.saturating_add(len)).map_err(|_| FsError::Invalid)?;
        if node.data.len() < end {
            node.data.resize(end, 0);
            touch(node);
        }
        Ok(())
    }

    pub fn set_attr(&mut self, ino: Ino, set: &SetAttr) -> Result<Attr, FsError> {
        if let Some(size) = set.size {
            let node = self.file_mut(ino)?;
            node.data.resize(usize::try_from(size).map_err(|_| FsError::Invalid)?, 0);
            touch(node);
        }
        let node = self.node_mut(ino)?;
        node.perm = set.perm.unwrap_or(node.perm);
        node.uid = set.uid.unwrap_or(node.uid);
        node.gid = set.gid.unwrap_or(node.gid);
        node.atime = set.atime.unwrap_or(node.atime);
        node.mtime = set.mtime.unwrap_or(node.mtime);
        node.ctime = SystemTime::now();
        self.attr(ino)
    }

    /// An open handle keeps an unlinked file's data until [`Model::release`].
    pub fn open(&mut self, ino: Ino) -> Result<(), FsError> {
        self.node_mut(ino)?.open += 1;
        Ok(())
    }

    pub fn release(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.open = node.open.saturating_sub(1);
            self.collect(ino);
        }
    }

    /// `fsync`/`fdatasync`: see the module comment.
    pub fn sync(&mut self, ino: Ino) -> Result<(), FsError> {
        let node = self.node(ino)?;
        if node.kind == Kind::File {
            let data = node.data.clone();
            self.node_mut(ino)?.durable_data = Some(data);
        } else {
            let gone: Vec<(OsString, Ino)> = node
                .durable_entries
                .iter()
                .filter(|(name, c)| node.entries.get(*name) != Some(*c))
                .map(|(name, c)| (name.clone(), *c))
                .collect();
            let now: Vec<(OsString, Ino)> = node.entries.iter().map(|(n, c)| (n.clone(), *c)).collect();
            for (name, child) in gone {
                if self.nodes[&child].durable_link == Some((ino, name)) {
                    self.set_durable_link(child, None);
                }
            }
            for (name, child) in now {
                self.set_durable_link(child, Some((ino, name)));
            }
        }
        // The node's own name, and those of the directories above it.
        let mut at = ino;
        while let Some(link) = self.nodes.get(&at).and_then(|n| n.link.clone()) {
            let parent = link.0;
            if self.nodes[&at].durable_link.as_ref() != Some(&link) {
                self.set_durable_link(at, Some(link));
            }
            at = parent;
        }
        Ok(())
    }

    /// Gives `ino` the durable name `link` (or none), keeping the durable entries of the
    /// directories involved in step; a node that loses its durable name may be dropped.
    fn set_durable_link(&mut self, ino: Ino, link: Option<(Ino, OsString)>) {
        let old = self.nodes.get_mut(&ino).expect("node exists").durable_link.take();
        if let Some((parent, name)) = old {
            let dir = self.nodes.get_mut(&parent).expect("durable parent exists");
            if dir.durable_entries.get(&name) == Some(&ino) {
                dir.durable_entries.remove(&name);
            }
            self.collect(parent);
        }
        if let Some((parent, name)) = &link {
            let dir = self.nodes.get_mut(parent).expect("parent exists");
            if let Some(replaced) = dir.durable_entries.insert(name.clone(), ino).filter(|r| *r != ino) {
                self.nodes.get_mut(&replaced).expect("durable child exists").durable_link = None;
                self.collect(replaced);
            }
        }
        let forgotten = link.is_none();
        self.nodes.get_mut(&ino).expect("node exists").durable_link = link;
        if forgotten {
            self.collect(ino);
        }
    }

    /// Drops `ino` if nothing refers to it any more: no name, no durable name, no durable
    /// entries below it, no open handle.
    fn collect(&mut self, ino: Ino) {
        let unused = self.nodes.get(&ino).is_some_and(|n| {
            ino != ROOT
                && n.link.is_none()
                && n.durable_link.is_none()
                && n.durable_entries.is_empty()
                && n.entries.is_empty()
                && n.open == 0
        });
        if unused {
            self.nodes.remove(&ino);
        }
    }

    /// Simulates a power cut; see the module comment.
    pub fn power_cut(&mut self) -> Cut {
        let mut cut = Cut { inodes: self.inodes(), ..Cut::default() };
        for (ino, node) in &mut self.nodes {
            if node.kind == Kind::Dir {
                for (name, c) in &node.entries {
                    if node.durable_entries.get(name) != Some(c) {
                        cut.entries.push((*ino, name.clone()));
                    }
                }
                node.entries = node.durable_entries.clone();
            }
        }
        let mut reachable = vec![ROOT];
        let mut stack = vec![ROOT];
        while let Some(dir) = stack.pop() {
            for child in self.nodes[&dir].entries.values() {
                reachable.push(*child);
                if self.nodes[child].kind == Kind::Dir {
                    stack.push(*child);
                }
            }
        }
        reachable.sort_unstable();
        self.nodes.retain(|ino, node| {
            let keep = reachable.binary_search(ino).is_ok();
            if !keep && node.kind == Kind::File {
                cut.files_removed += 1;
                cut.bytes_dropped += node.data.len() as u64;
            }
            keep
        });
        for node in self.nodes.values_mut() {
            node.link = node.durable_link.clone();
            if node.kind == Kind::File {
                cut.files += 1;
                let durable = node.durable_data.clone().unwrap_or_default();
                let dropped = dropped_bytes(&node.data, &durable);
                if node.data != durable {
                    cut.files_reverted += 1;
                    cut.bytes_dropped += dropped;
                    node.data = durable;
                    touch(node);
                }
            }
        }
        cut
    }
}

/// Bytes of `current` that `durable` does not hold at the same offset.
fn dropped_bytes(current: &[u8], durable: &[u8]) -> u64 {
    current.iter().enumerate().filter(|(i, b)| durable.get(*i) != Some(b)).count() as u64
}

fn touch(node: &mut Node) {
    let now = SystemTime::now();
    node.mtime = now;
    node.ctime = now;
}

#[cfg(test)]
mod tests;
