//! Facts about the file system a path lives on; for now, whether it is a network share.
//!
//! Two callers care: the watcher (remote changes on a share raise no events here) and the sync
//! (SQLite's WAL needs shared memory that a network file system cannot provide, so WAL on a
//! share, or on a file opened from another host, risks corrupting the Target).
//!
//! What is detected:
//! - UNC paths on any OS: `\\server\share\…`, `//server/share/…`, the verbatim `\\?\UNC\…` and
//!   the device form `\\.\UNC\…` (kind `"unc"`);
//! - Linux: the mount that holds the path (the longest mount point in /proc/self/mountinfo that
//!   is a prefix of the path, or of its nearest existing ancestor since the Target may not exist
//!   yet) when its type is one of [`NETWORK_FS_TYPES`] or any `fuse.*` (`fuse.sshfs`,
//!   `fuse.smbnetfs`, rclone, gvfs: FUSE file systems are mostly remote, and none of them
//!   gives SQLite the locking it relies on); the kind is the mount's type;
//! - Windows: a drive letter mapped to a share (`net use`, Explorer's "map network drive",
//!   persistent or not) and symlinks or junctions into a share, while the share is reachable:
//!   the path is resolved by the OS (`std::fs::canonicalize`, no `unsafe`), which answers
//!   `\\?\UNC\server\share\…` for anything behind the network redirector (kind
//!   `"network drive"`).
//!
//! Not detected: a mapped drive that is disconnected at the time (then the Target cannot be
//! opened at all), SAN/iSCSI volumes (block devices that look local, and are safe for SQLite),
//! folders kept in sync by a cloud client (local files), and on other Unixes (macOS, BSD) mounts
//! other than UNC-looking paths.

use std::path::{Path, PathBuf};

/// Linux mount types of network file systems (besides any `fuse.*`).
pub const NETWORK_FS_TYPES: &[&str] = &[
    "cifs",
    "smb3",
    "smbfs",
    "nfs",
    "nfs4",
    "9p",
    "ceph",
    "glusterfs",
    "afs",
];

/// The kind of network file system `path` lives on (`"unc"`, `"cifs"`, `"nfs4"`,
/// `"fuse.sshfs"`, `"network drive"`, …), or `None` for a local one or when it cannot be told.
/// `path` need not exist: its nearest existing ancestor is looked at.
pub fn network_fs(path: &Path) -> Option<String> {
    if let Some(kind) = unc_kind(&path.to_string_lossy()) {
        return Some(kind.to_string());
    }
    #[cfg(target_os = "linux")]
    {
        let resolved = nearest_existing(path)?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let fstype = mount_fstype(&mountinfo, &resolved)?;
        if is_network_fstype(&fstype) {
            return Some(fstype);
        }
    }
    #[cfg(windows)]
    {
        // Windows resolves a mapped drive letter (and a link into a share) to the share's UNC
        // path; a local volume stays `\\?\C:\…`.
        let resolved = nearest_existing(path)?;
        if unc_kind(&resolved.to_string_lossy()).is_some() {
            return Some("network drive".to_string());
        }
    }
    None
}

/// `Some("unc")` for a UNC path in any spelling, `None` for anything else (a drive letter, a
/// verbatim local path `\\?\C:\…`, a device `\\.\pipe\…`, a Unix path).
fn unc_kind(text: &str) -> Option<&'static str> {
    let t = text.replace('/', "\\");
    if let Some(rest) = t.strip_prefix(r"\\?\").or_else(|| t.strip_prefix(r"\\.\")) {
        let is_unc = rest
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(r"UNC\"));
        return is_unc.then_some("unc");
    }
    t.starts_with(r"\\").then_some("unc")
}

/// Whether a Linux mount type is a network file system.
pub fn is_network_fstype(fstype: &str) -> bool {
    NETWORK_FS_TYPES.contains(&fstype) || fstype.starts_with("fuse.")
}

/// `path` resolved (symlinks followed), or its nearest ancestor that exists, resolved.
#[cfg(any(target_os = "linux", windows))]
fn nearest_existing(path: &Path) -> Option<PathBuf> {
    let mut p = path;
    loop {
        let probe = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        if let Ok(resolved) = std::fs::canonicalize(probe) {
            return Some(resolved);
        }
        p = p.parent()?;
    }
}

/// The type of the mount holding `path` (absolute and resolved), from the text of a
/// /proc/self/mountinfo: the mount whose mount point is the longest prefix of `path`.
pub fn mount_fstype(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options [optional fields…] - fstype source
        // super-options (proc(5)); the optional fields end at the lone "-".
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mount) = fields.get(4) else { continue };
        let mount = PathBuf::from(unescape_mount(mount));
        let Some(dash) = fields.iter().skip(6).position(|f| *f == "-") else {
            continue;
        };
        let Some(fstype) = fields.get(6 + dash + 1) else {
            continue;
        };
        let depth = mount.components().count();
        if path.starts_with(&mount) && best.as_ref().is_none_or(|b| depth >= b.0) {
            best = Some((depth, fstype.to_string()));
        }
    }
    best.map(|b| b.1)
}

/// Undo mountinfo's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unc_paths_in_every_spelling_are_network_shares() {
        for p in [
            r"\\10.10.100.122\docker\GGPNAs\ARCHIVE",
            r"\\nas\share\pokervod.db",
            "//nas/share/pokervod.db",
            r"\\?\UNC\nas\share\pokervod.db",
            r"\\?\unc\nas\share",
            r"\\.\UNC\nas\share",
            "//?/UNC/nas/share",
        ] {
            assert_eq!(network_fs(Path::new(p)).as_deref(), Some("unc"), "{p}");
        }
        for p in [
            r"\\?\C:\data\pokervod.db",
            r"\\.\pipe\x",
            r"C:\data\pokervod.db",
        ] {
            assert_eq!(unc_kind(p), None, "{p} is not a share");
        }
    }

    #[test]
    fn a_local_temp_dir_is_not_a_network_share() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(network_fs(dir.path()), None);
        // Nor a file that does not exist yet in it (its folder is looked at).
        assert_eq!(network_fs(&dir.path().join("new/pokervod.db")), None);
    }

    /// A mountinfo as a Linux host with a CIFS mount, an smbnetfs FUSE mount and a local disk
    /// under it writes it (one escaped space in a mount point).
    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 27 0:40 / /mnt/nas rw,relatime shared:20 - cifs //10.10.100.122/docker rw,vers=3.1.1
31 30 8:17 / /mnt/nas/local\\040disk rw,relatime - ext4 /dev/sdb1 rw
32 27 0:45 / /home/u/smb rw,nosuid,nodev - fuse.smbnetfs smbnetfs rw,user_id=1000
33 27 0:46 / /mnt/nasty rw - tmpfs tmpfs rw
";

    #[test]
    fn the_longest_mount_point_prefix_decides_and_fuse_and_cifs_are_network() {
        let fs = |p: &str| mount_fstype(MOUNTINFO, Path::new(p));
        assert_eq!(fs("/mnt/nas/GGPNAs/pokervod.db").as_deref(), Some("cifs"));
        assert_eq!(fs("/mnt/nas").as_deref(), Some("cifs"));
        assert_eq!(
            fs("/home/u/smb/WORKGROUP/nas/x.db").as_deref(),
            Some("fuse.smbnetfs")
        );
        // A local disk mounted under the share, with a space in its name.
        assert_eq!(fs("/mnt/nas/local disk/a.db").as_deref(), Some("ext4"));
        // A path prefix that is not a component prefix: /mnt/nasty is not under /mnt/nas.
        assert_eq!(fs("/mnt/nasty/a.db").as_deref(), Some("tmpfs"));
        assert_eq!(fs("/var/lib/a.db").as_deref(), Some("ext4"));
        for (t, network) in [
            ("cifs", true),
            ("fuse.smbnetfs", true),
            ("fuse.sshfs", true),
            ("nfs4", true),
            ("ext4", false),
            ("tmpfs", false),
            ("fuseblk", false),
        ] {
            assert_eq!(is_network_fstype(t), network, "{t}");
        }
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_mount(r"/a\040b\011c\134d"), "/a b\tc\\d");
        assert_eq!(unescape_mount(r"/trailing\04"), r"/trailing\04");
    }
}
