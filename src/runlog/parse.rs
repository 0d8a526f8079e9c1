//! Parsing one line of the log into a [`Record`], shared by the reader and the follower.
//!
//! Hand-written fast path: `Record` flattens an internally tagged enum, which serde can only
//! deserialize by buffering every field of every line into an intermediate tree. Our writer
//! always puts `v`, `t` and `kind` first, so a visitor can read those three keys and then hand
//! the rest of the same JSON object straight to the event's own struct: one pass, no buffering.
//! Lines in another key order (edited by hand, other tools) take serde's derived path, so the
//! result is the same either way (a unit test checks every kind).

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, value::MapAccessDeserializer, DeserializeSeed, IgnoredAny, MapAccess, Visitor,
};
use serde::{Deserialize, Deserializer};

use crate::events::{self, Event, Record, SCHEMA_VERSION};

/// What one non-empty line turned out to be.
// The record is the common case (a million times per log); boxing it would cost an
// allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A record this build understands.
    Record(Record),
    /// A record of a kind this build does not know (newer minor schema), or of a newer major
    /// schema whatever its kind; the reading policy decides.
    Unknown { v: u32, kind: String },
    /// Not a record: the parser's message, without serde's "line 1" noise.
    Bad(String),
}

/// Parses one line (without its newline).
pub(crate) fn parse_line(line: &[u8]) -> Parsed {
    match std::str::from_utf8(line) {
        Ok(text) => parse_text(text),
        Err(e) => Parsed::Bad(format!("not UTF-8 text at column {}", e.valid_up_to() + 1)),
    }
}

/// Parses one line already known to be UTF-8 (serde_json then skips re-validating each
/// string, a tenth of the load time).
pub(crate) fn parse_text(line: &str) -> Parsed {
    let bytes = line.as_bytes();
    match serde_json::from_str::<Fast>(line) {
        Ok(Fast::Record(rec)) => Parsed::Record(rec.upgrade()),
        Ok(Fast::Unknown { v, kind }) => slow_path(bytes, Some((v, kind))),
        Ok(Fast::OtherOrder) => slow_path(bytes, None),
        Err(e) => Parsed::Bad(clean_error(&e)),
    }
}

/// serde's derived deserializer; `known` carries what the fast path already learned.
fn slow_path(line: &[u8], known: Option<(u32, String)>) -> Parsed {
    match serde_json::from_slice::<Record>(line) {
        Ok(rec) => Parsed::Record(rec.upgrade()),
        Err(e) => {
            let head = match known {
                Some(h) => Some(h),
                None => serde_json::from_slice::<Head>(line)
                    .ok()
                    .map(|h| (h.v, h.kind.into_owned())),
            };
            match head {
                Some((v, kind)) if v > SCHEMA_VERSION || !is_known_kind(&kind) => {
                    Parsed::Unknown { v, kind }
                }
                _ => Parsed::Bad(clean_error(&e)),
            }
        }
    }
}

/// The fields every line has, for classifying lines the full parse rejected.
#[derive(Deserialize)]
struct Head<'a> {
    v: u32,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// Result of the fast visitor.
// The record is the common case (a million times per log); boxing it would cost an
// allocation per line.
#[allow(clippy::large_enum_variant)]
enum Fast {
    Record(Record),
    Unknown { v: u32, kind: String },
    OtherOrder,
}

fn is_known_kind(kind: &str) -> bool {
    events::KINDS.contains(&kind)
}

impl<'de> Deserialize<'de> for Fast {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FastVisitor)
    }
}

struct FastVisitor;

impl<'de> Visitor<'de> for FastVisitor {
    type Value = Fast;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event record (a JSON object with v, t and kind)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fast, A::Error> {
        if !next_key_is(&mut map, "v")? {
            return drain(map);
        }
        let v: u32 = map.next_value()?;
        if !next_key_is(&mut map, "t")? {
            return drain(map);
        }
        let t: f64 = map.next_value()?;
        if !next_key_is(&mut map, "kind")? {
            return drain(map);
        }
        let kind: Cow<'de, str> = map.next_value()?;
        if v > SCHEMA_VERSION {
            // A newer major may mean anything: do not guess, let the policy refuse it.
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Fast::Unknown {
                v,
                kind: kind.into_owned(),
            });
        }
        if !is_known_kind(&kind) {
            // Possibly a variant added to `events.rs` after this build's `KINDS`: the caller
            // retries with serde's derived path before calling the kind unknown.
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Fast::Unknown {
                v,
                kind: kind.into_owned(),
            });
        }
        // The rest of the object goes straight to the event's own struct.
        let body = MapAccessDeserializer::new(NanMap(map));
        let event = Event::from_body(&kind, body)
            .unwrap_or_else(|| Err(de::Error::custom(format!("unknown kind {kind}"))))?;
        Ok(Fast::Record(Record { v, t, event }))
    }
}

/// Wraps the rest of a record's object so a top-level `null` where a number is expected reads
/// as NaN. serde_json writes non-finite floats as `null` (JSON has no NaN), and a diverged run
/// logs NaN losses: without this its epoch lines and final summary would be unreadable.
struct NanMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for NanMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(NanSeed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// Passes a field's deserializer through [`NanDe`].
struct NanSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NanSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(NanDe(d))
    }
}

/// A deserializer that forwards everything but reads `null` as NaN where a float is wanted.
struct NanDe<D>(D);

/// Turns `visit_unit` (JSON `null`) into NaN; numbers pass through.
struct NanVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for NanVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_f64(f64::NAN)
    }
    fn visit_f64<E: de::Error>(self, x: f64) -> Result<V::Value, E> {
        self.0.visit_f64(x)
    }
    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.0.visit_u64(x)
    }
    fn visit_i64<E: de::Error>(self, x: i64) -> Result<V::Value, E> {
        self.0.visit_i64(x)
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<W: Visitor<'de>>(self, $($arg: $ty,)* visitor: W) -> Result<W::Value, D::Error> {
                self.0.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for NanDe<D> {
    type Error = D::Error;

    fn deserialize_f64<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, D::Error> {
        self.0.deserialize_any(NanVisitor(visitor))
    }
    fn deserialize_f32<W: Visitor<'de>>(self, visitor: W) -> Result<W::Value, D::Error> {
        self.0.deserialize_any(NanVisitor(visitor))
    }
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }

    forward! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}

/// Reads the next key; true when it is `want`. Other keys mean "not our order".
fn next_key_is<'de, A: MapAccess<'de>>(map: &mut A, want: &str) -> Result<bool, A::Error> {
    let key: Option<Cow<'de, str>> = map.next_key()?;
    Ok(key.as_deref() == Some(want))
}

/// Consumes the rest of the object (serde_json insists) and asks for the derived path.
fn drain<'de, A: MapAccess<'de>>(mut map: A) -> Result<Fast, A::Error> {
    // The value of the key just read is still pending.
    map.next_value::<IgnoredAny>()?;
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(Fast::OtherOrder)
}

/// serde_json appends "at line 1 column N" for a single-line input; keep only the column.
fn clean_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::*;
    use crate::runlog::sample::SampleRun;

    /// One record of every kind, from a sample run plus the kinds it does not produce.
    fn every_kind() -> Vec<Record> {
        let mut recs = SampleRun {
            train_size: 1000,
            epochs: 3,
            milestones: vec![2],
            ..Default::default()
        }
        .records();
        recs.push(Record::new(
            0.4,
            Event::Evaluating(EvalProgress {
                epoch: 1,
                done: 3_000,
                total: 10_000,
            }),
        ));
        recs.push(Record::new(
            0.5,
            Event::Resources(ResourcesEvent {
                device_used: Some(1 << 30),
                device_total: Some(80 << 30),
                rss: Some(500_000_000),
                cpu_percent: Some(180.5),
                gpu_util: Some(97.0),
                gpu_temp: Some(61.0),
                gpu_power: Some(412.5),
                note: None,
            }),
        ));
        recs.push(Record::new(
            1.0,
            Event::NoiseScale(NoiseScaleEvent {
                update: 3,
                b_simple: 812.5,
                grad_sq: 0.25,
                trace: 203.1,
                batch: 128,
            }),
        ));
        recs.push(Record::new(
            2.0,
            Event::Paused(PauseEvent {
                update: 4,
                reason: crate::events::PauseReason::Key,
            }),
        ));
        recs.push(Record::new(
            3.0,
            Event::Resumed(PauseEvent {
                update: 4,
                reason: crate::events::PauseReason::Unspecified,
            }),
        ));
        recs.push(Record::new(
            4.0,
            Event::Warning(MessageEvent {
                message: "micro-batch halved".into(),
            }),
        ));
        recs.push(Record::new(
            5.0,
            Event::Failed(MessageEvent {
                message: "out of memory".into(),
            }),
        ));
        recs
    }

    #[test]
    fn fast_path_matches_serde_for_every_kind() {
        let recs = every_kind();
        let kinds: std::collections::BTreeSet<_> = recs.iter().map(|r| r.event.kind()).collect();
        assert_eq!(
            kinds.len(),
            events::KINDS.len(),
            "sample must cover every kind"
        );
        for rec in recs {
            let line = serde_json::to_vec(&rec).unwrap();
            let fast = serde_json::from_slice::<Fast>(&line).unwrap();
            let Fast::Record(fast) = fast else {
                panic!("fast path declined {}", String::from_utf8_lossy(&line));
            };
            let slow: Record = serde_json::from_slice(&line).unwrap();
            assert_eq!(fast, slow);
            assert_eq!(fast, rec);
        }
    }

    #[test]
    fn kind_name_is_the_serialized_tag() {
        for rec in every_kind() {
            let value = serde_json::to_value(&rec).unwrap();
            assert_eq!(value["kind"], rec.event.kind());
        }
    }

    #[test]
    fn other_key_order_takes_the_derived_path() {
        let line = br#"{"kind":"paused","update":3,"t":1.5,"reason":"key","v":1}"#;
        match parse_line(line) {
            Parsed::Record(rec) => assert_eq!(
                rec,
                Record::new(
                    1.5,
                    Event::Paused(PauseEvent {
                        update: 3,
                        reason: crate::events::PauseReason::Key
                    })
                )
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_kind_is_reported_with_its_version() {
        let line = br#"{"v":1,"t":2.0,"kind":"gradient_histogram","bins":[1,2,3]}"#;
        match parse_line(line) {
            Parsed::Unknown { v, kind } => {
                assert_eq!((v, kind.as_str()), (1, "gradient_histogram"))
            }
            other => panic!("unexpected {other:?}"),
        }
        let reordered = br#"{"kind":"gradient_histogram","v":1,"t":2.0}"#;
        assert!(matches!(parse_line(reordered), Parsed::Unknown { .. }));
    }

    #[test]
    fn non_finite_floats_read_back_as_nan() {
        let rec = Record::new(
            1.0,
            Event::Step(StepEvent {
                update: 7,
                epoch: 0,
                epoch_progress: 0.5,
                loss: f64::NAN,
                acc: 0.1,
                lr: 0.1,
                batch: 128,
                images_per_sec: f64::INFINITY,
                parallel: None,
            }),
        );
        let line = serde_json::to_vec(&rec).unwrap();
        assert!(String::from_utf8_lossy(&line).contains(r#""loss":null"#));
        let Parsed::Record(back) = parse_line(&line) else {
            panic!("NaN line rejected")
        };
        let Event::Step(step) = back.event else {
            panic!("wrong kind")
        };
        assert!(step.loss.is_nan() && step.images_per_sec.is_nan());
        assert_eq!((step.update, step.acc), (7, 0.1));
    }

    #[test]
    fn bad_lines_say_what_and_where() {
        let Parsed::Bad(msg) = parse_line(br#"{"v":1,"t":0.5,"kind":"step","update":1}"#) else {
            panic!("accepted a step without fields")
        };
        assert!(
            msg.contains("missing field") && msg.contains("column"),
            "{msg}"
        );
        assert!(!msg.contains("line 1"), "{msg}");
        assert!(matches!(parse_line(b"hello"), Parsed::Bad(_)));
        assert!(matches!(parse_line(br#"{"v":1,"t":0.5}"#), Parsed::Bad(_)));
        assert!(matches!(parse_line(br#"[1,2]"#), Parsed::Bad(_)));
    }
}
