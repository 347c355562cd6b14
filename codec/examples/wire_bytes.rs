//! Shows the bytes a few values become, as another language would read them.
//!
//! `cargo run -p forkwise-codec --example wire_bytes`

use forkwise_codec::{Codec, CodecError, Postcard};

#[derive(serde::Serialize)]
struct Job<'a> {
    id: u32,
    path: &'a str,
    urgent: bool,
}

fn show<T: serde::Serialize>(what: &str, value: &T) -> Result<(), CodecError> {
    let mut bytes = Vec::new();
    Postcard::encode(value, &mut bytes)?;
    println!("{what:>32}: {bytes:02x?}");
    Ok(())
}

fn main() -> Result<(), CodecError> {
    show("300u32 (a varint)", &300u32)?;
    show("-1i32 (zigzag, then varint)", &-1i32)?;
    show("\"hi\" (length, bytes)", &"hi")?;
    show(
        "Job { 7, \"/a\", true } (fields)",
        &Job {
            id: 7,
            path: "/a",
            urgent: true,
        },
    )?;
    Ok(())
}
