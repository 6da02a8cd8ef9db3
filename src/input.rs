//! Files a person names (`--catalog`, `--env-file`, `--ca-file`, `SSL_CERT_FILE`, reports read
//! back, an MPI host file) are read only when they are regular files, and only up to a size far
//! beyond real use: `/dev/zero` would grow memory until the process dies, and a FIFO would block
//! the run forever.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most a catalog may hold: 10,000 entries take about 2 MiB.
pub const CATALOG_LIMIT: u64 = 32 << 20;
/// The most a CA bundle may hold: the system's is about 200 KiB.
pub const CA_LIMIT: u64 = 16 << 20;
/// The most an environment file may hold: a compute instance's is a few KiB.
pub const ENV_FILE_LIMIT: u64 = 1 << 20;
/// The most a report read back may hold: a node report of 10,000 results takes about 10 MB, a
/// fleet report of 200 nodes of the built-in catalog about 1.5 MB.
pub const REPORT_LIMIT: u64 = 64 << 20;
/// The most an MPI host file may hold: a line a node.
pub const HOST_FILE_LIMIT: u64 = 1 << 20;
/// An error message or log `explain -` reads from standard input: a job's whole log, within
/// reason.
pub const MESSAGE_LIMIT: u64 = 16 << 20;

/// Why a named file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("cannot read: no such file")]
    Missing,
    #[error("not a regular file")]
    NotRegular,
    #[error("larger than {} MiB", .0 >> 20)]
    TooLarge(u64),
    #[error("cannot read: {0}")]
    Unreadable(String),
}

/// The file's bytes, if it is a regular file of at most `limit` bytes.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Refused> {
    let unreadable = |e: std::io::Error| match e.kind() {
        ErrorKind::NotFound => Refused::Missing,
        _ => Refused::Unreadable(e.to_string()),
    };
    // Looked at before opening: opening a FIFO for reading waits for a writer.
    if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
        return Err(Refused::NotRegular);
    }
    // Non-blocking, in case it was swapped for a FIFO since; checked again once open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Refused::NotRegular);
    }
    if meta.len() > limit {
        return Err(Refused::TooLarge(limit));
    }
    read_at_most(file, limit)
}

/// What `from` gives, up to `limit` (a file can grow while it is read; standard input has no
/// size to look at first): never more.
pub fn read_at_most(from: impl Read, limit: u64) -> Result<Vec<u8>, Refused> {
    let mut bytes = Vec::new();
    from.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refused::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(Refused::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        assert_eq!(read(Path::new("/dev/zero"), 10), Err(Refused::NotRegular));
        assert_eq!(read(Path::new("/"), 10), Err(Refused::NotRegular));
        assert_eq!(read(Path::new("/nonexistent/x"), 10), Err(Refused::Missing));
        let dir = std::env::temp_dir().join(format!("amlprobe-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"0123456789").unwrap();
        assert_eq!(read(&small, 10).unwrap(), b"0123456789");
        assert_eq!(read(&small, 9), Err(Refused::TooLarge(9)));
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(read(&fifo, 10), Err(Refused::NotRegular));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            Refused::TooLarge(CATALOG_LIMIT).to_string(),
            "larger than 32 MiB"
        );
    }
}
