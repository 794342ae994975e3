//! The store a benchmark ran on, as the coordinator reports it (`GetClusterStatus` →
//! `store`: what SQLite applies, read back, not what was asked for), and whether that makes
//! the numbers durable ones. A run is labelled durable only when every commit is fsync'd
//! (`durability` "full") onto a filesystem that keeps data across a machine crash.
use anyhow::bail;
use serde_json::{Value, json};
use weft_client::{Client, pb};

/// Filesystems that live in memory: an fsync there survives no machine crash.
const VOLATILE_FILESYSTEMS: [&str; 2] = ["tmpfs", "ramfs"];

/// What a coordinator said about its store.
#[derive(Clone, Debug, PartialEq)]
pub enum Store {
    Reported(pb::StoreStatus),
    /// It answered GetClusterStatus without a store (a weft from before `StoreStatus`).
    Unreported,
}

/// The verdict on a store, and the sentence the report prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub durable: bool,
    /// `store: sqlite synchronous=FULL (full) on ext4: durable`, or `...: NOT durable (why)`.
    pub text: String,
}

/// Asks the coordinator how its store commits.
pub async fn read(client: &Client) -> anyhow::Result<Store> {
    let status = client.cluster_status().await?;
    Ok(status.store.map_or(Store::Unreported, Store::Reported))
}

impl Store {
    /// The verdict; pure.
    pub fn label(&self) -> Label {
        let Store::Reported(s) = self else {
            return Label {
                durable: false,
                text: "store: not reported by the coordinator: NOT durable (it does not say how it commits)".into(),
            };
        };
        let mut what = format!("store: {}", or_unknown(&s.backend));
        if !s.setting.is_empty() {
            what.push_str(&format!(" {}", s.setting));
        }
        what.push_str(&format!(" ({})", or_unknown(&s.durability)));
        if !s.filesystem.is_empty() {
            what.push_str(&format!(" on {}", s.filesystem));
        } else if s.backend != "memory" {
            what.push_str(" on an unknown filesystem");
        }
        let why_not = match s.durability.as_str() {
            "full" if VOLATILE_FILESYSTEMS.contains(&s.filesystem.as_str()) => {
                Some(format!("{} is in memory: an fsync there does not survive a machine crash", s.filesystem))
            }
            "full" => None,
            "relaxed" => {
                Some("commits are fsync'd only at checkpoints: a machine crash can lose acknowledged work".into())
            }
            "none" => Some("state is kept in memory: a restart loses it".into()),
            other => Some(format!("durability `{}` is not `full`", or_unknown(other))),
        };
        match why_not {
            None => Label { durable: true, text: format!("{what}: durable") },
            Some(why) => Label { durable: false, text: format!("{what}: NOT durable ({why})") },
        }
    }

    /// The store as reported, with the verdict, for `-o json`.
    pub fn to_json(&self) -> Value {
        let label = self.label();
        match self {
            Store::Reported(s) => json!({
                "backend": s.backend, "durability": s.durability, "setting": s.setting,
                "location": s.location, "filesystem": s.filesystem,
                "durable": label.durable, "label": label.text,
            }),
            Store::Unreported => json!({"reported": false, "durable": false, "label": label.text}),
        }
    }

    /// The directory holding the store's files, when it has one.
    pub fn directory(&self) -> Option<std::path::PathBuf> {
        match self {
            Store::Reported(s) if !s.location.is_empty() => {
                std::path::Path::new(&s.location).parent().map(std::path::Path::to_path_buf)
            }
            _ => None,
        }
    }

    /// Fails, saying what the store is, unless it is durable. `what` names what needs it.
    pub fn require_durable(&self, what: &str) -> anyhow::Result<()> {
        let label = self.label();
        if !label.durable {
            bail!("{what} needs a durable store (durability full), but the coordinator reports {}", label.text);
        }
        Ok(())
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "unknown" } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(durability: &str, setting: &str, filesystem: &str) -> Store {
        Store::Reported(pb::StoreStatus {
            backend: "sqlite".into(),
            durability: durability.into(),
            location: "/var/lib/weft/weft.db".into(),
            filesystem: filesystem.into(),
            setting: setting.into(),
        })
    }

    #[test]
    fn only_full_durability_on_a_disk_is_durable() {
        let full = sqlite("full", "synchronous=FULL", "ext4").label();
        assert_eq!(
            full,
            Label { durable: true, text: "store: sqlite synchronous=FULL (full) on ext4: durable".into() }
        );

        let relaxed = sqlite("relaxed", "synchronous=NORMAL", "ext4").label();
        assert!(!relaxed.durable);
        assert!(
            relaxed.text.starts_with("store: sqlite synchronous=NORMAL (relaxed) on ext4: NOT durable (commits are"),
            "{}",
            relaxed.text
        );

        let off = sqlite("none", "synchronous=OFF", "xfs").label();
        assert!(!off.durable && off.text.contains("(none) on xfs: NOT durable"), "{}", off.text);

        let tmpfs = sqlite("full", "synchronous=FULL", "tmpfs").label();
        assert!(!tmpfs.durable);
        assert!(tmpfs.text.contains("(full) on tmpfs: NOT durable (tmpfs is in memory"), "{}", tmpfs.text);

        let odd = sqlite("", "", "").label();
        assert!(!odd.durable);
        assert_eq!(
            odd.text,
            "store: sqlite (unknown) on an unknown filesystem: NOT durable (durability `unknown` is not `full`)"
        );
        // A filesystem the coordinator could not name does not make a full store undurable.
        assert!(sqlite("full", "synchronous=FULL", "").label().durable);
        assert!(sqlite("full", "synchronous=EXTRA", "fuse").label().durable);
    }

    #[test]
    fn memory_and_silent_coordinators_are_not_durable() {
        let memory = Store::Reported(pb::StoreStatus {
            backend: "memory".into(),
            durability: "none".into(),
            ..Default::default()
        })
        .label();
        assert_eq!(
            memory,
            Label {
                durable: false,
                text: "store: memory (none): NOT durable (state is kept in memory: a restart loses it)".into()
            }
        );
        let silent = Store::Unreported.label();
        assert!(!silent.durable && silent.text.contains("not reported"), "{}", silent.text);
    }

    #[test]
    fn json_carries_the_report_and_the_verdict() {
        let json = sqlite("relaxed", "synchronous=NORMAL", "ext4").to_json();
        assert_eq!(json["durability"], "relaxed");
        assert_eq!(json["setting"], "synchronous=NORMAL");
        assert_eq!(json["filesystem"], "ext4");
        assert_eq!(json["location"], "/var/lib/weft/weft.db");
        assert_eq!(json["durable"], false);
        assert!(json["label"].as_str().unwrap().contains("NOT durable"));
        assert_eq!(Store::Unreported.to_json()["durable"], false);
    }

    #[test]
    fn only_a_durable_store_passes_the_requirement() {
        assert!(sqlite("full", "synchronous=FULL", "ext4").require_durable("restart").is_ok());
        let err = sqlite("relaxed", "synchronous=NORMAL", "ext4").require_durable("restart").unwrap_err();
        let err = err.to_string();
        assert!(err.starts_with("restart needs a durable store (durability full)"), "{err}");
        assert!(err.contains("synchronous=NORMAL (relaxed) on ext4: NOT durable"), "{err}");
    }

    #[test]
    fn the_directory_is_the_one_holding_the_database() {
        let dir = sqlite("full", "", "").directory();
        assert_eq!(dir.as_deref(), Some(std::path::Path::new("/var/lib/weft")));
        assert_eq!(Store::Unreported.directory(), None);
    }
}
