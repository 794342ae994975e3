//! The protobuf codec of every weft service and client: tonic_prost's, except that a
//! message that does not decode (malformed protobuf, a string field that is not UTF-8)
//! answers INVALID_ARGUMENT, the sender's fault, where tonic_prost answers INTERNAL.
//!
//! Wired into the generated code by `codec_path` in `build.rs`. A client decoding a
//! malformed response gets INVALID_ARGUMENT too; a coordinator never sends one.
//!
//! A `StartRunRequest` or `RegisterDefinitionRequest` whose spec is past the count limits
//! (tasks, workflows, dependency edges) is refused on its bytes, before prost decodes it
//! ([`crate::wire_scan`]): decoding 100,001 tasks only to refuse them would hold the
//! runtime thread, which also answers health checks and heartbeats, for tens of
//! milliseconds per request.
use crate::convert::SpecCounts;
use crate::{pb, wire_scan};
use prost::Message;
use prost::bytes::Buf;
use std::any::TypeId;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// [`ProstCodec`] with decode errors mapped to INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct WeftCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for WeftCodec<T, U> {
    fn default() -> Self {
        WeftCodec(ProstCodec::default())
    }
}

impl<T, U> Codec for WeftCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = WeftDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        WeftDecoder(self.0.decoder())
    }
}

/// [`ProstDecoder`] whose errors are INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct WeftDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default + 'static> Decoder for WeftDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        if let Some(Err(err)) = spec_counts_before_decoding::<U>(buf).map(|counts| counts.check("spec")) {
            buf.advance(buf.remaining());
            return Err(crate::status::invalid(&err));
        }
        self.0.decode(buf).map_err(malformed)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The spec counts of a request that carries a spec, from its bytes; `None` for other
/// messages and for bytes the walk cannot read (prost then decodes them as usual).
fn spec_counts_before_decoding<U: 'static>(buf: &DecodeBuf<'_>) -> Option<SpecCounts> {
    let bytes = buf.chunk();
    // tonic hands the codec one contiguous buffer; if it ever did not, decode as usual.
    if bytes.len() != buf.remaining() {
        return None;
    }
    let message = TypeId::of::<U>();
    if message == TypeId::of::<pb::StartRunRequest>() {
        wire_scan::start_run_spec_counts(bytes)
    } else if message == TypeId::of::<pb::RegisterDefinitionRequest>() {
        wire_scan::register_spec_counts(bytes)
    } else {
        None
    }
}

/// tonic_prost reports every decode error as INTERNAL; the bytes came from the peer.
fn malformed(status: Status) -> Status {
    if status.code() == Code::Internal {
        Status::invalid_argument(format!("malformed message: {}", status.message()))
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_become_invalid_argument_and_others_stay() {
        // Field 3 of StartRunRequest (a string) holding bytes that are not UTF-8.
        let decode = crate::pb::StartRunRequest::decode(&[0x1a, 0x02, 0xc3, 0x28][..]).unwrap_err();
        let mapped = malformed(Status::internal(decode.to_string()));
        assert_eq!(mapped.code(), Code::InvalidArgument);
        assert!(mapped.message().starts_with("malformed message: failed to decode Protobuf message"), "{mapped:?}");
        assert_eq!(malformed(Status::resource_exhausted("too big")).code(), Code::ResourceExhausted);
    }
}
