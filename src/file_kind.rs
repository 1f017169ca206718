//! How to name a file's type in a message ("a FIFO", "a socket"…): shared by the adapters
//! that refuse what is not a regular file (`ci` copying a docker config, `registry` reading
//! an `oci:` layout), which may not import each other.

use std::fs::FileType;

/// What a directory entry is, as a message names it.
pub fn describe(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}
