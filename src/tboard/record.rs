//! TFRecord framing: writing one record, and finding records in bytes read so far.
//!
//! Owns the byte layout (u64 length, masked CRC-32C of the length, data, masked CRC-32C of the
//! data) for both the TensorBoard export and the event-file reader. It must never interpret a
//! record's data: that is `wire`'s job.

/// Bytes before a record's data: the length and its checksum.
pub const HEADER_LEN: usize = 12;
/// Bytes after a record's data: its checksum.
pub const FOOTER_LEN: usize = 4;

/// Records larger than this are taken as a corrupt length: event protos are far smaller
/// (TensorFlow caps protos at 2 GiB; graphs and images stay well under 256 MiB in practice).
pub const MAX_RECORD_LEN: u64 = 256 << 20;

/// CRC-32C of `data`, masked as TFRecord does (so a CRC of data holding CRCs stays robust).
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length (u64 LE), masked CRC of the length, data, masked CRC of the data.
pub fn tfrecord(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + HEADER_LEN + FOOTER_LEN);
    append_tfrecord(&mut out, data);
    out
}

/// Appends one TFRecord holding `data` to `out`.
pub fn append_tfrecord(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

/// What lies at an offset of the bytes read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framed {
    /// A whole record with both checksums right: its data is `buf[data.0..data.1]`, the next
    /// record starts at `next`.
    Record {
        /// Start and end of the data.
        data: (usize, usize),
        /// Offset just past the record.
        next: usize,
    },
    /// The bytes end inside a record (a writer is mid-write): read again from the same offset
    /// once the file has grown.
    Incomplete,
    /// The length's checksum is wrong: the length cannot be trusted, so the next record must be
    /// searched for (see [`resync`]).
    BadLength,
    /// The length is right but the data's checksum is not: the record is skipped whole.
    BadData {
        /// Offset just past the damaged record.
        next: usize,
    },
}

/// Reads the record framed at `buf[at..]`.
pub fn frame_at(buf: &[u8], at: usize) -> Framed {
    let Some(header) = buf.get(at..at + HEADER_LEN) else {
        return Framed::Incomplete;
    };
    let (len_bytes, crc_bytes) = header.split_at(8);
    let want = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    if masked_crc32c(len_bytes) != want {
        return Framed::BadLength;
    }
    let len = u64::from_le_bytes(len_bytes.try_into().unwrap_or([0; 8]));
    if len > MAX_RECORD_LEN {
        return Framed::BadLength;
    }
    let start = at + HEADER_LEN;
    let end = start + len as usize;
    let Some(footer) = buf.get(end..end + FOOTER_LEN) else {
        return Framed::Incomplete;
    };
    let want = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
    let next = end + FOOTER_LEN;
    if masked_crc32c(&buf[start..end]) != want {
        return Framed::BadData { next };
    }
    Framed::Record {
        data: (start, end),
        next,
    }
}

/// After a damaged length at `from`, the offset of the next place where a record starts: a
/// header whose length checksum holds and whose data checksum holds too (or whose data has not
/// all arrived yet, which may be the writer's last record). `None`: no such place in `buf` yet.
///
/// TensorBoard gives up on the rest of a file after a bad length; a random 12-byte window
/// passes the length check with odds of 1 in 2³², and the data check makes a false start
/// practically impossible, so searching costs nothing but time on a file that is damaged.
pub fn resync(buf: &[u8], from: usize) -> Option<usize> {
    (from + 1..buf.len().saturating_sub(HEADER_LEN - 1)).find(|&at| {
        matches!(
            frame_at(buf, at),
            Framed::Record { .. } | Framed::Incomplete
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_records() -> (Vec<u8>, usize) {
        let mut buf = tfrecord(b"first record");
        let second_at = buf.len();
        append_tfrecord(&mut buf, b"second");
        (buf, second_at)
    }

    #[test]
    fn whole_records_are_found_in_turn() {
        let (buf, second_at) = two_records();
        assert_eq!(
            frame_at(&buf, 0),
            Framed::Record {
                data: (12, 24),
                next: second_at
            }
        );
        let Framed::Record { data, next } = frame_at(&buf, second_at) else {
            panic!("second record not found")
        };
        assert_eq!(&buf[data.0..data.1], b"second");
        assert_eq!(next, buf.len());
        assert_eq!(frame_at(&buf, buf.len()), Framed::Incomplete);
    }

    #[test]
    fn every_cut_inside_a_record_is_incomplete() {
        let (buf, second_at) = two_records();
        for cut in second_at..buf.len() {
            assert_eq!(
                frame_at(&buf[..cut], second_at),
                Framed::Incomplete,
                "{cut}"
            );
        }
    }

    #[test]
    fn a_flipped_data_byte_skips_the_record() {
        let (mut buf, second_at) = two_records();
        buf[14] ^= 0x01;
        assert_eq!(frame_at(&buf, 0), Framed::BadData { next: second_at });
    }

    #[test]
    fn a_flipped_length_byte_resyncs_on_the_next_record() {
        let (mut buf, second_at) = two_records();
        buf[0] ^= 0x40;
        assert_eq!(frame_at(&buf, 0), Framed::BadLength);
        assert_eq!(resync(&buf, 0), Some(second_at));
        assert_eq!(resync(&buf, second_at), None);
    }

    #[test]
    fn a_huge_length_is_damage_not_a_wait() {
        let len = (MAX_RECORD_LEN + 1).to_le_bytes();
        let mut buf = len.to_vec();
        buf.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
        assert_eq!(frame_at(&buf, 0), Framed::BadLength);
    }
}
