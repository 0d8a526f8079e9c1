//! The hot path of reading an event file: a zero-copy walk over the protobuf wire format of
//! `Event → Summary → Summary.Value` and of scalar tensors, borrowing tags and payloads from
//! the record instead of building [`proto`](super::proto) structs.
//!
//! Why not prost here: decoding each of a million one-scalar events into `proto::Event` costs
//! a `String` and a `Vec` per event; `cargo bench --bench tboard` measures both ways (see
//! docs/performance.md: framing and decoding a million one-scalar events took 0.12 s this way
//! and 0.44 s through prost, ≈ 4×, when the whole load's budget is 0.5 s). Messages read once
//! per tag or per file (metadata, session log, hparams) still go through prost.
//!
//! Owns the wire format only; what a value means is `run`'s business.

use super::proto;

/// A record that is not a valid protobuf of the expected message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid event protobuf")]
pub struct WireError;

/// A field's payload, borrowed from the message bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// Walks the fields of one message.
struct Fields<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    #[inline]
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, at: 0 }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // One byte: every key and every length under 128, the common case by far.
        if let Some(&b) = self.buf.get(self.at) {
            if b < 0x80 {
                self.at += 1;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.at).ok_or(WireError)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(WireError)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.at.checked_add(n).ok_or(WireError)?;
        let s = self.buf.get(self.at..end).ok_or(WireError)?;
        self.at = end;
        Ok(s)
    }

    /// The next field number and payload, `None` at the end.
    #[inline]
    fn next_field(&mut self) -> Result<Option<(u32, Field<'a>)>, WireError> {
        if self.at >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = (key >> 3) as u32;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(self.take(8)?.try_into().map_err(|_| WireError)?),
            2 => {
                let n = self.varint()? as usize;
                Field::Bytes(self.take(n)?)
            }
            5 => Field::Fixed32(self.take(4)?.try_into().map_err(|_| WireError)?),
            // Groups (3, 4) are not used by any event message.
            _ => return Err(WireError),
        };
        Ok(Some((number, field)))
    }
}

/// What an event holds, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventBody<'a> {
    /// Nothing this reader knows.
    Other,
    /// The file-version header.
    FileVersion,
    /// A serialized `Summary`.
    Summary(&'a [u8]),
    /// A serialized `SessionLog`.
    SessionLog(&'a [u8]),
}

/// An event's step, wall time and body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventView<'a> {
    /// Unix seconds.
    pub wall_time: f64,
    /// The writer's step.
    pub step: i64,
    /// What it holds.
    pub body: EventBody<'a>,
}

impl<'a> EventView<'a> {
    /// Reads an `Event` message.
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut ev = EventView {
            wall_time: 0.0,
            step: 0,
            body: EventBody::Other,
        };
        let mut f = Fields::new(buf);
        while let Some((number, field)) = f.next_field()? {
            match (number, field) {
                (1, Field::Fixed64(b)) => ev.wall_time = f64::from_le_bytes(b),
                (2, Field::Varint(v)) => ev.step = v as i64,
                (3, Field::Bytes(_)) => ev.body = EventBody::FileVersion,
                (5, Field::Bytes(b)) => ev.body = EventBody::Summary(b),
                (7, Field::Bytes(b)) => ev.body = EventBody::SessionLog(b),
                (4 | 6 | 8 | 9, _) => ev.body = EventBody::Other,
                _ => {}
            }
        }
        Ok(ev)
    }
}

/// A summary value's payload, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueKind<'a> {
    /// No payload (hparams summaries carry only metadata).
    None,
    /// A float32 scalar.
    Simple(f32),
    /// A serialized `TensorProto`.
    Tensor(&'a [u8]),
    /// A histogram (either encoding).
    Histogram,
    /// An image.
    Image,
    /// An audio clip.
    Audio,
}

/// One `Summary.Value`, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueView<'a> {
    /// The tag's bytes (UTF-8 by contract; checked by the caller).
    pub tag: &'a [u8],
    /// The payload.
    pub kind: ValueKind<'a>,
    /// A serialized `SummaryMetadata`, when present.
    pub metadata: Option<&'a [u8]>,
}

/// Calls `each` for every value of a serialized `Summary`.
pub fn for_each_value<'a>(
    summary: &'a [u8],
    mut each: impl FnMut(ValueView<'a>),
) -> Result<(), WireError> {
    let mut f = Fields::new(summary);
    while let Some((number, field)) = f.next_field()? {
        if let (1, Field::Bytes(b)) = (number, field) {
            each(parse_value(b)?);
        }
    }
    Ok(())
}

#[inline]
fn parse_value(buf: &[u8]) -> Result<ValueView<'_>, WireError> {
    let mut v = ValueView {
        tag: &[],
        kind: ValueKind::None,
        metadata: None,
    };
    let mut f = Fields::new(buf);
    while let Some((number, field)) = f.next_field()? {
        match (number, field) {
            (1, Field::Bytes(b)) => v.tag = b,
            (2, Field::Fixed32(b)) => v.kind = ValueKind::Simple(f32::from_le_bytes(b)),
            (3 | 5, _) => v.kind = ValueKind::Histogram,
            (4, _) => v.kind = ValueKind::Image,
            (6, _) => v.kind = ValueKind::Audio,
            (8, Field::Bytes(b)) => v.kind = ValueKind::Tensor(b),
            (9, Field::Bytes(b)) => v.metadata = Some(b),
            _ => {}
        }
    }
    Ok(v)
}

/// The single value of a scalar tensor as f64 (float32, float64, float16 and bfloat16; from
/// `tensor_content` or the typed value lists). `None`: another type, or not exactly one value.
pub fn tensor_scalar(buf: &[u8]) -> Result<Option<f64>, WireError> {
    let mut dtype = 0i32;
    let mut content: &[u8] = &[];
    let mut found: Option<f64> = None;
    let mut count = 0usize;
    let mut f = Fields::new(buf);
    while let Some((number, field)) = f.next_field()? {
        match (number, field) {
            (1, Field::Varint(v)) => dtype = v as i32,
            (4, Field::Bytes(b)) => content = b,
            // float_val: one unpacked, or packed.
            (5, Field::Fixed32(b)) => {
                count += 1;
                found = Some(f64::from(f32::from_le_bytes(b)));
            }
            (5, Field::Bytes(b)) if b.len() % 4 == 0 => {
                count += b.len() / 4;
                if let Some(c) = b.first_chunk::<4>() {
                    found = Some(f64::from(f32::from_le_bytes(*c)));
                }
            }
            (6, Field::Fixed64(b)) => {
                count += 1;
                found = Some(f64::from_le_bytes(b));
            }
            (6, Field::Bytes(b)) if b.len() % 8 == 0 => {
                count += b.len() / 8;
                if let Some(c) = b.first_chunk::<8>() {
                    found = Some(f64::from_le_bytes(*c));
                }
            }
            // half_val: int32 varints holding the 16 bits, unpacked or packed.
            (13, Field::Varint(v)) => {
                count += 1;
                found = Some(half_bits(dtype, v as u16));
            }
            (13, Field::Bytes(b)) => {
                let mut packed = Fields::new(b);
                while packed.at < b.len() {
                    let v = packed.varint()?;
                    count += 1;
                    found = Some(half_bits(dtype, v as u16));
                }
            }
            _ => {}
        }
    }
    if !content.is_empty() {
        let width = match dtype {
            proto::DT_FLOAT => 4,
            proto::DT_DOUBLE => 8,
            proto::DT_HALF | proto::DT_BFLOAT16 => 2,
            _ => return Ok(None),
        };
        if content.len() != width {
            return Ok(None);
        }
        return Ok(Some(match dtype {
            proto::DT_FLOAT => f64::from(f32::from_le_bytes(
                content.try_into().map_err(|_| WireError)?,
            )),
            proto::DT_DOUBLE => f64::from_le_bytes(content.try_into().map_err(|_| WireError)?),
            _ => half_bits(dtype, u16::from_le_bytes([content[0], content[1]])),
        }));
    }
    let typed = matches!(
        dtype,
        proto::DT_FLOAT | proto::DT_DOUBLE | proto::DT_HALF | proto::DT_BFLOAT16
    );
    Ok(if typed && count == 1 { found } else { None })
}

/// A 16-bit float's value: IEEE half, or bfloat16 when the tensor says so.
fn half_bits(dtype: i32, bits: u16) -> f64 {
    if dtype == proto::DT_BFLOAT16 {
        f64::from(half::bf16::from_bits(bits))
    } else {
        f64::from(half::f16::from_bits(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn scalar_event(tag: &str, v: f32) -> Vec<u8> {
        proto::Event {
            wall_time: 12.5,
            step: 7,
            what: Some(proto::event::What::Summary(proto::Summary {
                value: vec![proto::SummaryValue {
                    tag: tag.into(),
                    metadata: None,
                    value: Some(proto::summary_value::Value::SimpleValue(v)),
                }],
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_simple_value_event_reads_as_prost_wrote_it() {
        let bytes = scalar_event("train/loss", 0.1);
        let ev = EventView::parse(&bytes).unwrap();
        assert_eq!((ev.wall_time, ev.step), (12.5, 7));
        let EventBody::Summary(s) = ev.body else {
            panic!("no summary")
        };
        let mut seen = Vec::new();
        for_each_value(s, |v| seen.push(v)).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].tag, b"train/loss");
        assert_eq!(seen[0].kind, ValueKind::Simple(0.1));
    }

    #[test]
    fn a_negative_step_is_a_ten_byte_varint() {
        let bytes = proto::Event {
            step: -3,
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(EventView::parse(&bytes).unwrap().step, -3);
    }

    #[test]
    fn truncated_messages_are_errors_not_panics() {
        let bytes = scalar_event("x", 1.0);
        for cut in 1..bytes.len() {
            let r = EventView::parse(&bytes[..cut]).and_then(|ev| match ev.body {
                EventBody::Summary(s) => for_each_value(s, |_| {}),
                _ => Ok(()),
            });
            // Every cut either fails or drops whole fields; none may panic.
            let _ = r;
        }
        assert_eq!(EventView::parse(&[0x0b]), Err(WireError), "a group");
    }

    fn tensor(t: proto::TensorProto) -> Option<f64> {
        tensor_scalar(&t.encode_to_vec()).unwrap()
    }

    #[test]
    fn scalar_tensors_of_each_float_type_and_encoding() {
        let base = proto::TensorProto {
            tensor_shape: Some(proto::TensorShapeProto::default()),
            ..Default::default()
        };
        let f = proto::TensorProto {
            dtype: proto::DT_FLOAT,
            float_val: vec![0.3],
            ..base.clone()
        };
        assert_eq!(tensor(f), Some(f64::from(0.3f32)));
        let d = proto::TensorProto {
            dtype: proto::DT_DOUBLE,
            double_val: vec![0.3],
            ..base.clone()
        };
        assert_eq!(tensor(d), Some(0.3));
        let h = proto::TensorProto {
            dtype: proto::DT_HALF,
            half_val: vec![i32::from(half::f16::from_f32(0.1).to_bits())],
            ..base.clone()
        };
        assert_eq!(tensor(h), Some(f64::from(half::f16::from_f32(0.1))));
        let c = proto::TensorProto {
            dtype: proto::DT_FLOAT,
            tensor_content: 2.5f32.to_le_bytes().to_vec(),
            ..base.clone()
        };
        assert_eq!(tensor(c), Some(2.5));
        let two = proto::TensorProto {
            dtype: proto::DT_FLOAT,
            float_val: vec![1.0, 2.0],
            ..base.clone()
        };
        assert_eq!(tensor(two), None, "not a scalar");
        let text = proto::TensorProto {
            dtype: 7,
            string_val: vec![b"hi".to_vec()],
            ..base
        };
        assert_eq!(tensor(text), None, "a string tensor");
    }
}
