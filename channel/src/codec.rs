//! How typed messages become frame payloads: the [`Codec`] trait and its
//! implementations, [`Postcard`] (the default) and [`Bincode`] (a feature).

use serde::{Deserialize, Serialize};

/// The error a codec returns, boxed so that channels need not know its type.
pub type CodecError = Box<dyn std::error::Error + Send + Sync>;

/// Turns values into bytes and back; both ends of a channel must use the same.
///
/// A codec appends to a caller's buffer, so a channel reuses one buffer for
/// every message and steady-state sending does not allocate.
///
/// ```
/// use forkwise_channel::{Codec, Postcard};
///
/// let mut bytes = Vec::new();
/// Postcard::encode(&(1u8, "two"), &mut bytes)?;
/// let back: (u8, String) = Postcard::decode(&bytes)?;
/// assert_eq!(back, (1, "two".to_owned()));
/// # Ok::<(), forkwise_channel::CodecError>(())
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
/// use forkwise_channel::{Codec, Postcard};
///
/// let mut bytes = Vec::new();
/// Postcard::encode(&300u32, &mut bytes)?;
/// assert_eq!(bytes, [0xAC, 0x02]); // a varint
/// # Ok::<(), forkwise_channel::CodecError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

/// A postcard output that appends to a borrowed `Vec`, so the channel's
/// buffer is reused across messages.
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

/// The [bincode](https://docs.rs/bincode/1) 1.x format with its default
/// options (fixed-width little-endian integers), for peers that already
/// speak it. Behind the `bincode` feature: RUSTSEC-2025-0141 flags bincode
/// as unmaintained, so it is never the default.
///
/// ```
/// use forkwise_channel::{Bincode, Codec};
///
/// let mut bytes = Vec::new();
/// Bincode::encode(&300u32, &mut bytes)?;
/// assert_eq!(bytes, [0x2C, 0x01, 0, 0]);
/// # Ok::<(), forkwise_channel::CodecError>(())
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
            .serialize_into(out, value)
            .map_err(Into::into)
    }

    fn decode<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, CodecError> {
        use bincode::Options;
        // DefaultOptions rejects trailing bytes, as a frame holds one value.
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .deserialize(bytes)
            .map_err(Into::into)
    }
}
