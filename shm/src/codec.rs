//! The value codec: how a typed value becomes bytes in a store and back.
//!
//! Private, and the same shape as forkwise-channel's public `Codec` trait
//! and its `Postcard` (same method signatures, same error type, same bytes),
//! as forkwise-sysv's private codec is: a value stored in a
//! [`SharedData`](crate::SharedData) is encoded exactly as one sent through
//! a channel or a SysV queue. When the workspace shares one codec crate,
//! this module becomes a `use` and nothing else changes.
//!
//! # Format
//!
//! A value is its postcard 1.x encoding, with nothing around it (the store
//! keeps the length). Decoding must consume every byte, so that a value of
//! another type that happens to decode is still refused for its extra
//! bytes. Postcard's format is specified at
//! <https://postcard.jamesmunns.com/wire-format>.

use serde::{Deserialize, Serialize};

/// What a codec reports; boxed so that no codec's error type is part of the
/// public API.
pub(crate) type CodecError = Box<dyn std::error::Error + Send + Sync>;

/// Turns values into bytes and back.
pub(crate) trait Codec {
    /// Appends the encoding of `value` to `out`.
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes one value that fills `bytes` exactly.
    fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError>;
}

/// The default codec: postcard.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Postcard;

/// A postcard output that appends to a borrowed `Vec`, so that a caller
/// reuses one buffer for every message.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        postcard::serialize_with_flavor(value, AppendTo(out)).map_err(Into::into)
    }

    fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError> {
        let (value, rest) = postcard::take_from_bytes(bytes)?;
        if rest.is_empty() {
            Ok(value)
        } else {
            Err(format!("{} bytes left over after the value", rest.len()).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_appends_to_the_buffer() {
        let mut bytes = vec![9];
        Postcard::encode(&(1u8, "hi"), &mut bytes).unwrap();
        assert_eq!(bytes, [9, 1, 2, b'h', b'i']);
        let back: (u8, String) = Postcard::decode(&bytes[1..]).unwrap();
        assert_eq!(back, (1, "hi".to_owned()));
    }

    #[test]
    fn integers_are_varints() {
        let mut bytes = Vec::new();
        Postcard::encode(&300u32, &mut bytes).unwrap();
        assert_eq!(bytes, [0xac, 0x02]);
    }

    #[test]
    fn leftover_bytes_are_refused() {
        let err = Postcard::decode::<u8>(&[1, 2]).unwrap_err();
        assert!(err.to_string().contains("1 bytes left over"), "{err}");
    }

    #[test]
    fn truncated_input_is_refused() {
        assert!(Postcard::decode::<(u32, String)>(&[1, 5, b'a']).is_err());
    }
}
