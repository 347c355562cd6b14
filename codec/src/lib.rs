//! The message codec shared by forkwise's carriers: how a typed value
//! becomes bytes and back, the same way whether it travels through a
//! [forkwise-channel](https://docs.rs/forkwise-channel) socket pair, a
//! [forkwise-sysv](https://docs.rs/forkwise-sysv) message queue, or sits in a
//! [forkwise-shm](https://docs.rs/forkwise-shm) store.
//!
//! [`Codec`] is the trait; [`Postcard`] the default; `Bincode` (feature
//! `bincode`) an alternative for peers that already speak it.
//!
//! ```
//! use forkwise_codec::{Codec, Postcard};
//!
//! let mut buffer = Vec::new();
//! Postcard::encode(&("job", 7u32), &mut buffer)?;
//! let (name, n): (String, u32) = Postcard::decode(&buffer)?;
//! assert_eq!((name.as_str(), n), ("job", 7));
//! # Ok::<(), forkwise_codec::CodecError>(())
//! ```
//!
//! # Wire format
//!
//! A value is its postcard 1.x encoding, with nothing around it: no length
//! (the carrier knows the length), no version, no type tag. Decoding must
//! consume every byte, so that a message of another type that happens to
//! decode is still refused for its extra bytes. Postcard's format is
//! specified at <https://postcard.jamesmunns.com/wire-format>: unsigned
//! integers as LEB128 varints, signed ones zigzag-encoded first,
//! `u8`/`i8`/`bool` as one byte, floats as little-endian IEEE 754, strings
//! and byte sequences as a varint length and the items, structs and tuples
//! as their fields in order, enums as a varint variant index and the
//! variant's fields, `Option` as a 0 or 1 byte and the value.

use serde::{Deserialize, Serialize};

pub mod copy;

pub use copy::append_bytes;

/// The error a codec returns, boxed so that no codec's error type is part of
/// a public API.
pub type CodecError = Box<dyn std::error::Error + Send + Sync>;

/// Turns values into bytes and back; both ends must use the same.
///
/// A codec appends to a caller's buffer, so a carrier reuses one buffer for
/// every message and steady-state sending does not allocate.
///
/// ```
/// use forkwise_codec::{Codec, Postcard};
///
/// let mut bytes = Vec::new();
/// Postcard::encode(&(1u8, "two"), &mut bytes)?;
/// let back: (u8, String) = Postcard::decode(&bytes)?;
/// assert_eq!(back, (1, "two".to_owned()));
/// # Ok::<(), forkwise_codec::CodecError>(())
/// ```
pub trait Codec {
    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    ///
    /// When the format cannot represent the value.
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes one value that fills `bytes` exactly.
    ///
    /// # Errors
    ///
    /// When `bytes` are not the encoding of a `T`, or have bytes left over.
    fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError>;
}

/// The [postcard](https://docs.rs/postcard) format: compact (variable-length
/// integers), specified, maintained. The default codec.
///
/// Byte buffers encode as a length and the bytes in one copy when the field
/// is marked `#[serde(with = "serde_bytes")]` (or is a `serde_bytes::ByteBuf`);
/// a plain `Vec<u8>` is encoded element by element, which is far slower for
/// large buffers.
///
/// ```
/// use forkwise_codec::{Codec, Postcard};
///
/// let mut bytes = Vec::new();
/// Postcard::encode(&300u32, &mut bytes)?;
/// assert_eq!(bytes, [0xAC, 0x02]); // a varint
/// # Ok::<(), forkwise_codec::CodecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

/// A codec's output (postcard's flavor, bincode's writer): appends to a
/// borrowed `Vec` through [`append_bytes`], so that a caller reuses one
/// buffer for every message.
struct AppendTo<'a>(&'a mut Vec<u8>);

#[cfg(feature = "bincode")]
impl std::io::Write for AppendTo<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        append_bytes(self.0, data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        append_bytes(self.0, data);
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

/// The [bincode](https://docs.rs/bincode/1) 1.x format with its default
/// options (fixed-width little-endian integers), for peers that already
/// speak it. Behind the `bincode` feature: RUSTSEC-2025-0141 flags bincode
/// as unmaintained, so it is never the default.
///
/// ```
/// use forkwise_codec::{Bincode, Codec};
///
/// let mut bytes = Vec::new();
/// Bincode::encode(&300u32, &mut bytes)?;
/// assert_eq!(bytes, [0x2C, 0x01, 0, 0]);
/// # Ok::<(), forkwise_codec::CodecError>(())
/// ```
#[cfg(feature = "bincode")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

#[cfg(feature = "bincode")]
impl Codec for Bincode {
    fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        use bincode::Options;
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .serialize_into(AppendTo(out), value)
            .map_err(Into::into)
    }

    fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError> {
        use bincode::Options;
        // DefaultOptions rejects trailing bytes: one value fills the bytes.
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .deserialize(bytes)
            .map_err(Into::into)
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
