//! Typed identifiers. Both are UUID v7, so they sort by creation time; the caller that
//! owns a clock and randomness makes them (the engine stays deterministic).
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("Identifier of a ", $what, ".")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id. Reads the system clock: call it at the edges, not in the engine.
            pub fn new_v7() -> Self {
                Self(Uuid::now_v7())
            }

            /// A fixed id from a number: for tests and deterministic simulation.
            pub const fn from_u128(n: u128) -> Self {
                Self(Uuid::from_u128(n))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(RunId, "run");

impl RunId {
    /// An id the engine makes for a run it starts itself (a schedule's slot, a child run):
    /// shaped like a v7 id whose time is `at_ms` (so it sorts with the driver's), the rest a
    /// hash of `parts` (FNV-1a): the same on every replay, distinct for distinct parts.
    pub fn derived(at_ms: i64, parts: &[&[u8]]) -> RunId {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in parts.iter().flat_map(|p| p.iter()) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&(at_ms.max(0) as u64).to_be_bytes()[2..]);
        bytes[8..].copy_from_slice(&h.to_be_bytes());
        bytes[6] = 0x70 | (bytes[6] & 0x0f);
        bytes[8] = 0x80 | (bytes[8] & 0x3f);
        RunId(Uuid::from_bytes(bytes))
    }
}
uuid_id!(WorkerId, "worker process");
