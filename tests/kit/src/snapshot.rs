//! A directory tree's whole content, to show that a run changed nothing it
//! should not have.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A node of a directory tree, with enough detail to notice any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Symlink(PathBuf),
}

/// Every path under a directory (relative) and what is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree(pub BTreeMap<PathBuf, Node>);

impl Tree {
    /// Walks `root` without following symlinks.
    pub fn of(root: &Path) -> Self {
        Self::walk(root, false)
    }

    /// Like [`Tree::of`], leaving out sockets and FIFOs (a running daemon's
    /// socket cannot be read as a file).
    pub fn of_files(root: &Path) -> Self {
        Self::walk(root, true)
    }

    fn walk(root: &Path, files_only: bool) -> Self {
        use std::os::unix::fs::FileTypeExt;
        let mut nodes = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable dir") {
                let path = entry.expect("dir entry").path();
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                let kind = std::fs::symlink_metadata(&path)
                    .expect("metadata")
                    .file_type();
                let node = if kind.is_symlink() {
                    Node::Symlink(std::fs::read_link(&path).expect("link target"))
                } else if kind.is_dir() {
                    pending.push(path.clone());
                    Node::Dir
                } else if files_only && (kind.is_socket() || kind.is_fifo()) {
                    continue;
                } else {
                    Node::File(std::fs::read(&path).expect("readable file"))
                };
                nodes.insert(relative, node);
            }
        }
        Self(nodes)
    }

    /// Panics with the paths that differ unless both trees are identical.
    pub fn assert_same(&self, after: &Tree, what: &str) {
        let changed: Vec<_> = self
            .0
            .keys()
            .chain(after.0.keys())
            .filter(|path| self.0.get(*path) != after.0.get(*path))
            .collect();
        assert!(
            changed.is_empty(),
            "{what} changed these paths: {changed:?}"
        );
    }
}
