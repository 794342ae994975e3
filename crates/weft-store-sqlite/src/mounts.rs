//! Which filesystem holds a path, from `/proc/self/mountinfo` (Linux). Reported beside the
//! durability mode: an fsync on tmpfs or a FUSE test filesystem promises something else
//! than one on ext4.
use std::path::Path;

/// The filesystem type of the mount holding `path`, if it can be told.
pub fn filesystem_of(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    filesystem_in(&table, path.to_str()?)
}

/// The type of the deepest mount point that contains `path` (the last one listed wins on a
/// tie, since a later mount hides an earlier one on the same point).
fn filesystem_in(mountinfo: &str, path: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let Some(point) = left.split(' ').nth(4) else { continue };
        let Some(fstype) = right.split(' ').next() else { continue };
        let point = unescape(point);
        let contains = point == "/"
            || path == point
            || path.strip_prefix(point.as_str()).is_some_and(|rest| rest.starts_with('/'));
        if contains && best.as_ref().is_none_or(|(len, _)| point.len() >= *len) {
            best = Some((point.len(), fstype.to_string()));
        }
    }
    best.map(|(_, fstype)| fstype)
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /tmp rw shared:2 - tmpfs tmpfs rw
31 30 0:40 / /tmp/my\\040dir rw - fuse.weft-lazyfs lazyfs rw
32 22 0:27 / /tmpdata rw - xfs /dev/sdb rw
";

    #[test]
    fn deepest_mount_point_wins_and_prefixes_respect_components() {
        assert_eq!(filesystem_in(TABLE, "/var/lib/weft").as_deref(), Some("ext4"));
        assert_eq!(filesystem_in(TABLE, "/tmp/x").as_deref(), Some("tmpfs"));
        assert_eq!(filesystem_in(TABLE, "/tmp").as_deref(), Some("tmpfs"));
        assert_eq!(filesystem_in(TABLE, "/tmp/my dir/data").as_deref(), Some("fuse.weft-lazyfs"));
        // `/tmpdata` is not under `/tmp`.
        assert_eq!(filesystem_in(TABLE, "/tmpdata/weft").as_deref(), Some("xfs"));
    }

    #[test]
    fn this_machine_has_a_root_filesystem() {
        assert!(filesystem_of(Path::new("/")).is_some_and(|t| !t.is_empty()));
    }
}
