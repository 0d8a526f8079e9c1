//! The tidy CSV of a logdir's scalars: `run,tag,step,wall_time,value`, one row per point.
//!
//! Values are printed as the shortest text that reads back to the same number: a float32
//! (every `simple_value`, float and half tensors) as a float32, a double as a double, so
//! nothing written by the training is rounded on the way out.

use std::io::Write;

use super::Logdir;

/// Writes every scalar of every run, runs by name, tags in first-seen order, steps in order.
/// Returns the rows written.
pub fn write_csv<W: Write>(logdir: &Logdir, out: W) -> std::io::Result<usize> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    writeln!(out, "run,tag,step,wall_time,value")?;
    let mut rows = 0;
    for run in logdir.runs() {
        let name = crate::report::export::csv_field(run.name());
        for (tag, series) in run.scalars().iter() {
            let tag = crate::report::export::csv_field(tag);
            for p in series.points() {
                write!(out, "{name},{tag},{},{:?},", p.step, p.wall_time)?;
                write_value(&mut out, p.value)?;
                out.write_all(b"\n")?;
            }
            rows += series.len();
        }
    }
    out.flush()?;
    Ok(rows)
}

/// The shortest text that reads back as `v`: as a float32 when `v` is one.
fn write_value<W: Write>(out: &mut W, v: f64) -> std::io::Result<()> {
    let single = v as f32;
    if f64::from(single) == v || v.is_nan() {
        write!(out, "{single:?}")
    } else {
        write!(out, "{v:?}")
    }
}

/// [`write_value`] as a string (tests, one-off labels).
pub fn value_text(v: f64) -> String {
    let mut out = Vec::new();
    let _ = write_value(&mut out, v);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_values_print_shortest_and_read_back_exactly() {
        for v in [0.1f32, 1.234_567, 1e-10, 3.4e38, 128.0, -0.0] {
            let text = value_text(f64::from(v));
            assert_eq!(
                text.parse::<f32>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
        }
        assert_eq!(value_text(f64::from(0.1f32)), "0.1");
        assert_eq!(value_text(0.1), "0.1", "a double prints as itself");
        assert_eq!(value_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(value_text(f64::NAN), "NaN");
        assert_eq!(value_text(f64::INFINITY), "inf");
    }
}
