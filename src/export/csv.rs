//! CSV files of the evidence package: every cell neutralized against spreadsheet formulas
//! (OWASP CSV injection), written as the `csv` crate writes them (a test holds the two to the
//! same bytes), rows ending with LF.

use std::io::Write;

use crate::{Error, Result};

/// Whether a spreadsheet would read a cell as a formula: it starts with `=`, `+`, `-`,
/// `@`, tab or CR.
pub fn starts_formula(cell: &[u8]) -> bool {
    matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Appends one CSV cell as the `csv` crate writes it by default (a test holds the two to the
/// same bytes): quoted, with its quotes doubled, if it holds a comma, a quote, CR or LF. A
/// cell starting with `=`, `+`, `-`, `@`, tab or CR gets a leading apostrophe first (OWASP
/// CSV injection).
fn push_cell(out: &mut Vec<u8>, cell: &[u8]) {
    let apostrophe: &[u8] = if starts_formula(cell) { b"'" } else { b"" };
    // Most cells need no quotes: one branch-free pass, which the compiler vectorizes, decides.
    let quoted = cell.iter().fold(false, |any, &b| {
        any | (b == b',') | (b == b'"') | (b == b'\n') | (b == b'\r')
    });
    if !quoted {
        out.extend_from_slice(apostrophe);
        out.extend_from_slice(cell);
        return;
    }
    out.push(b'"');
    out.extend_from_slice(apostrophe);
    let mut parts = cell.split(|&b| b == b'"');
    out.extend_from_slice(parts.next().unwrap_or_default());
    for p in parts {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(p);
    }
    out.push(b'"');
}

/// Cells encoded once for rows that repeat them (see [`Csv::cells`]).
#[derive(Debug, Clone)]
pub struct Cells(Vec<u8>);

impl Cells {
    /// At least one cell, each neutralized as [`Csv::cell`] does.
    pub fn of<'a>(cells: impl IntoIterator<Item = &'a [u8]>) -> Cells {
        let mut out = Vec::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_cell(&mut out, c);
        }
        Cells(out)
    }
}

/// One row encoded straight onto the end of a byte buffer, as [`Csv`] writes it.
pub struct Row<'a> {
    out: &'a mut Vec<u8>,
    started: bool,
}

impl<'a> Row<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Row<'a> {
        Row {
            out,
            started: false,
        }
    }

    fn separate(&mut self) {
        if self.started {
            self.out.push(b',');
        }
        self.started = true;
    }

    /// One cell, neutralized as [`Csv::cell`] does.
    pub fn cell(&mut self, s: impl AsRef<[u8]>) {
        self.separate();
        push_cell(self.out, s.as_ref());
    }

    /// Cells encoded beforehand.
    pub fn cells(&mut self, c: &Cells) {
        self.separate();
        self.out.extend_from_slice(&c.0);
    }

    pub fn end(self) {
        self.out.push(b'\n');
    }
}

/// Bytes gathered before a [`Csv`] hands them on.
const CSV_BUF: usize = 64 * 1024;

/// A CSV row writer whose every cell is neutralized against spreadsheet formulas; rows end
/// with LF.
pub struct Csv<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Whether the row has a cell already.
    in_row: bool,
}

impl<W: Write> Csv<W> {
    pub fn new(out: W, header: &[&str]) -> Result<Self> {
        let mut w = Csv {
            out,
            buf: Vec::with_capacity(CSV_BUF + CSV_BUF / 4),
            in_row: false,
        };
        for h in header {
            w.cell(h)?;
        }
        w.end_row()?;
        Ok(w)
    }

    /// The row being written.
    fn row(&mut self) -> Row<'_> {
        Row {
            started: std::mem::replace(&mut self.in_row, true),
            out: &mut self.buf,
        }
    }

    /// One cell; a value starting with `=`, `+`, `-`, `@`, tab or CR gets a leading
    /// apostrophe (OWASP CSV injection).
    pub fn cell(&mut self, s: impl AsRef<[u8]>) -> Result<()> {
        self.row().cell(s);
        Ok(())
    }

    /// Cells encoded beforehand.
    pub fn cells(&mut self, c: &Cells) {
        self.row().cells(c);
    }

    pub fn end_row(&mut self) -> Result<()> {
        self.buf.push(b'\n');
        self.in_row = false;
        if self.buf.len() >= CSV_BUF {
            self.pass_on()?;
        }
        Ok(())
    }

    fn pass_on(&mut self) -> Result<()> {
        self.out
            .write_all(&self.buf)
            .map_err(|e| Error::invalid("export", e.to_string()))?;
        self.buf.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<W> {
        self.pass_on()?;
        Ok(self.out)
    }
}

/// Neutralizes spreadsheet formulas (OWASP CSV injection): a cell starting with `=`, `+`,
/// `-`, `@`, tab or CR gets a leading apostrophe.
pub fn csv_cell(s: &str) -> String {
    if starts_formula(s.as_bytes()) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// A small CSV file, every cell neutralized (see [`Csv`]).
pub fn small(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut w = Csv::new(Vec::new(), header)?;
    for r in rows {
        for c in &r {
            w.cell(c)?;
        }
        w.end_row()?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn csv_cells_that_start_a_formula_are_neutralized() {
        let mut w = Csv::new(Vec::new(), &["a", "b", "c"]).expect("header");
        for cell in ["=1+1", "-2", "plain"] {
            w.cell(cell).expect("cell");
        }
        w.end_row().expect("row");
        let text = String::from_utf8(w.finish().expect("finish")).expect("UTF-8");
        assert_eq!(text, "a,b,c\n'=1+1,'-2,plain\n");
    }
    /// What the `csv` crate writes for `rows`, each cell neutralized first.
    fn csv_crate(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header).expect("header");
        for row in rows {
            let cells = row.iter().map(|c| {
                if starts_formula(c.as_bytes()) {
                    format!("'{c}")
                } else {
                    c.clone()
                }
            });
            w.write_record(cells).expect("row");
        }
        w.into_inner().expect("bytes")
    }

    proptest! {
        #[test]
        fn rows_are_the_bytes_the_csv_crate_writes(
            rows in prop::collection::vec(
                prop::collection::vec("[a,\"\r\n=+@\t' -]{0,6}|.{0,4}", 3),
                0..8,
            ),
            encoded in 0..3usize,
        ) {
            let header = ["a,b", "c\"", "d"];
            let mut w = Csv::new(Vec::new(), &header).expect("header");
            for row in &rows {
                // Some cells come encoded beforehand, the rest one at a time.
                let (before, after) = row.split_at(encoded);
                if !before.is_empty() {
                    w.cells(&Cells::of(before.iter().map(|c| c.as_bytes())));
                }
                for c in after {
                    w.cell(c).expect("cell");
                }
                w.end_row().expect("row");
            }
            let (ours, theirs) = (w.finish().expect("finish"), csv_crate(&header, &rows));
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }

    }
}
