//! Reading the files `serve` is given (the policy, the certificate and key) so that no file can
//! hang or swamp the server: only regular files are read (a FIFO would block the reader for
//! ever), the file is opened without blocking and checked on its open descriptor (no race with
//! a swap), and its size is capped before it is read. Callers on the async runtime run this on
//! a blocking thread.

use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Largest policy file read: a ConfigMap holds at most 1 MiB, and parsing costs a multiple of
/// the file's size in memory.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Largest certificate, key or CA bundle file read.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is a directory, not a file")]
    Directory(PathBuf),
    #[error("{0} is not a regular file (a FIFO, socket or device); it is not read")]
    NotRegular(PathBuf),
    #[error("{path} is {size} bytes, more than the {limit} bytes bulwark reads")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// Reads a regular file of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => FileError::Missing(path.to_path_buf()),
        _ => FileError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    };
    // Non-blocking so that opening a FIFO without a writer returns at once.
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nonblocking)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if metadata.is_dir() {
        return Err(FileError::Directory(path.to_path_buf()));
    }
    if !metadata.is_file() {
        return Err(FileError::NotRegular(path.to_path_buf()));
    }
    let too_large = |size| FileError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // One byte more than the limit tells a file that grew since the check.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "mode: audit\n").expect("write");
        assert_eq!(read_regular(&path, 100), Ok(b"mode: audit\n".to_vec()));
    }

    #[test]
    fn refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("gone.yaml");
        assert_eq!(
            read_regular(&missing, 100),
            Err(FileError::Missing(missing.clone()))
        );
        assert_eq!(
            read_regular(dir.path(), 100),
            Err(FileError::Directory(dir.path().to_path_buf()))
        );
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; 101]).expect("write");
        let message = read_regular(&big, 100).expect_err("too large").to_string();
        assert!(
            message.contains("101 bytes, more than the 100"),
            "{message}"
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("policy.yaml");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::RWXU).expect("mkfifo");
        assert_eq!(read_regular(&fifo, 100), Err(FileError::NotRegular(fifo)));
    }
}
