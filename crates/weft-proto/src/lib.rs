//! The weft gRPC API.
//!
//! - [`pb`]: code generated from `proto/weft/v1/*.proto` (client and server).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for gRPC reflection.
//! - [`convert`]: conversions between wire messages and `weft-model` types; a failed
//!   conversion names the field that was wrong, and counts are checked before anything
//!   is built.
//! - [`codec`]: the protobuf codec of every service: a message that does not decode is
//!   INVALID_ARGUMENT, and a spec past the count limits is refused before it is decoded.
//! - [`wire_scan`]: a spec's counts read off its encoded bytes, for the codec.
//! - [`status`]: validation errors as INVALID_ARGUMENT with field violations, capped.

pub mod codec;
pub mod convert;
pub mod status;
pub mod wire_scan;

/// Generated messages and services of package `weft.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("weft.v1");
}

/// Encoded `FileDescriptorSet` of every weft proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("weft_descriptor");

/// The wire protocol version this crate speaks.
/// Metadata a standby coordinator puts on its UNAVAILABLE answers: the leader's address
/// (`host:port`), where clients and workers should go instead; empty while no leader is
/// known. Its presence alone says "a standby answered".
pub const LEADER_METADATA: &str = "weft-leader";

pub const PROTOCOL_VERSION: u32 = pb::ProtocolVersion::ProtocolVersion1 as u32;
