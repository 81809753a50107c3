//! CSV files of the evidence package, encoded by the `csv` crate: every cell neutralized
//! against spreadsheet formulas (OWASP CSV injection), quoted only where it must be, rows
//! ending with LF.
//!
//! The crate quotes each cell by its content alone and puts a comma between cells and LF after
//! the last (only a row of one empty cell, or none, is written `""`). So a row is written a run
//! of cells at a time, each run as a record of its own without its LF, and cells that repeat on
//! many rows (an identity's, a scope's explanation) are encoded once and their bytes copied. A
//! test holds the rows to the bytes of the crate's own `write_record`.

use std::cell::RefCell;
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

/// The `csv` crate's writer, for cells taken from it as they are written: each run of cells is
/// written as a record of its own and taken without the record's LF.
struct CellWriter {
    csv: csv::Writer<Written>,
    /// The run being written, neutralized.
    record: csv::ByteRecord,
    /// A formula cell with its apostrophe.
    neutral: Vec<u8>,
}

/// Where the crate writes a run; taken from through [`csv::Writer::get_ref`], hence the
/// `RefCell`.
#[derive(Default)]
struct Written(RefCell<Vec<u8>>);

impl Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.get_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    // NOTE: one writer a thread, reused for every run: a writer is made with a buffer of its
    // own, too dear to make for each cell or row.
    static CELL_WRITER: RefCell<CellWriter> = RefCell::new(CellWriter {
        csv: csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            // Runs have any number of cells.
            .flexible(true)
            .from_writer(Written::default()),
        record: csv::ByteRecord::new(),
        neutral: Vec::new(),
    });
}

impl CellWriter {
    fn push<'a>(&mut self, out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a [u8]>) {
        self.record.clear();
        for cell in cells {
            if starts_formula(cell) {
                self.neutral.clear();
                self.neutral.push(b'\'');
                self.neutral.extend_from_slice(cell);
                self.record.push_field(&self.neutral);
            } else {
                self.record.push_field(cell);
            }
        }
        // A record written to memory: the crate has nothing to refuse.
        self.csv
            .write_byte_record(&self.record)
            .expect("a CSV record in memory");
        self.csv.flush().expect("a CSV record in memory");
        let mut written = self.csv.get_ref().0.borrow_mut();
        match written.strip_suffix(b"\n").expect("a record ends with LF") {
            // The crate writes a record of one empty cell (or none) `""`, so that it is not
            // read as no record at all; among other cells, such a run is nothing. A row of no
            // bytes is written `""` by [`Row::end`].
            b"\"\"" => {}
            run => out.extend_from_slice(run),
        }
        written.clear();
    }
}

/// Appends `cells` as the `csv` crate writes them among other cells of a row: each quoted, with
/// its quotes doubled, if it holds a comma, a quote, CR or LF; a comma between them. A cell
/// starting with `=`, `+`, `-`, `@`, tab or CR gets a leading apostrophe first (OWASP CSV
/// injection).
fn push_cells<'a>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = &'a [u8]>) {
    CELL_WRITER.with_borrow_mut(|w| w.push(out, cells));
}

/// Cells encoded once for rows that repeat them (see [`Csv::cells`]).
#[derive(Debug, Clone)]
pub struct Cells(Vec<u8>);

impl Cells {
    /// At least one cell, each neutralized as [`Csv::cell`] does.
    pub fn of<'a>(cells: impl IntoIterator<Item = &'a [u8]>) -> Cells {
        let mut out = Vec::new();
        push_cells(&mut out, cells);
        Cells(out)
    }
}

/// One row encoded straight onto the end of a byte buffer, as [`Csv`] writes it.
pub struct Row<'a> {
    out: &'a mut Vec<u8>,
    /// Where the row starts in `out`.
    start: usize,
    started: bool,
}

impl<'a> Row<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Row<'a> {
        Row {
            start: out.len(),
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
        let s = s.as_ref();
        // Among other cells, an empty one is nothing.
        if !s.is_empty() {
            push_cells(self.out, [s]);
        }
    }

    /// Cells encoded beforehand.
    pub fn cells(&mut self, c: &Cells) {
        self.separate();
        self.out.extend_from_slice(&c.0);
    }

    /// At least one cell, as `self.cells(&Cells::of(cells))` writes them, without keeping
    /// them: encoded together, which takes less time than one at a time.
    pub fn cells_of<'c>(&mut self, cells: impl IntoIterator<Item = &'c [u8]>) {
        self.separate();
        push_cells(self.out, cells);
    }

    pub fn end(self) {
        // A row of no bytes (one empty cell, or none) is written `""`, as the crate writes
        // it, so that it is not read as no row at all.
        if self.out.len() == self.start {
            self.out.extend_from_slice(b"\"\"");
        }
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
    /// Where the row being written starts in `buf`.
    start: usize,
    /// Whether the row has a cell already.
    in_row: bool,
}

impl<W: Write> Csv<W> {
    pub fn new(out: W, header: &[&str]) -> Result<Self> {
        let mut w = Csv {
            out,
            buf: Vec::with_capacity(CSV_BUF + CSV_BUF / 4),
            start: 0,
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
            start: self.start,
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

    /// At least one cell, as [`Row::cells_of`] writes them.
    pub fn cells_of<'c>(&mut self, cells: impl IntoIterator<Item = &'c [u8]>) {
        self.row().cells_of(cells);
    }

    pub fn end_row(&mut self) -> Result<()> {
        self.row().end();
        self.in_row = false;
        if self.buf.len() >= CSV_BUF {
            self.pass_on()?;
        }
        self.start = self.buf.len();
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
        w.cells_of(r.iter().map(|c| c.as_bytes()));
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

    /// Cells that quote, neutralize or carry text of every kind.
    const AWKWARD: [&str; 22] = [
        "plain",
        "a,b",
        "say \"hi\"",
        "line\nbreak",
        "cr\rhere",
        "crlf\r\n",
        "=1+1",
        "+1",
        "-2",
        "@sum(A1)",
        "\ttab",
        "\rcr first",
        "",
        "é ☃ 😀 \u{2028}",
        "'quoted already",
        "=a,\"b\"",
        " spaced ",
        "#hash",
        "\"",
        ",",
        "\u{7f}del",
        "x\0y",
    ];

    #[test]
    fn files_are_the_bytes_the_hand_written_writer_wrote() {
        // Each expected text is what `export::csv` wrote before it encoded cells with the
        // `csv` crate: a package exported now has the same bytes as one exported then.
        let rows = AWKWARD.chunks(3).map(|c| {
            let mut row: Vec<String> = c.iter().map(|s| s.to_string()).collect();
            row.resize(3, String::new());
            row
        });
        let small = small(&["name", "a,b", "say \"x\""], rows).expect("small");
        assert_eq!(
            String::from_utf8(small).expect("UTF-8"),
            "name,\"a,b\",\"say \"\"x\"\"\"\nplain,\"a,b\",\"say \"\"hi\"\"\"\n\"line\nbreak\",\
             \"cr\rhere\",\"crlf\r\n\"\n'=1+1,'+1,'-2\n'@sum(A1),'\ttab,\"'\rcr first\"\n,é ☃ \
             😀 \u{2028},'quoted already\n\"'=a,\"\"b\"\"\", spaced ,#hash\n\"\"\"\",\",\",\
             \u{7f}del\nx\0y,,\n"
        );

        let mut w = Csv::new(Vec::new(), &["h1", "h2", "h3", "h4"]).expect("header");
        for c in AWKWARD.chunks(2) {
            w.cells(&Cells::of(c.iter().map(|s| s.as_bytes())));
            w.cell(c[0]).expect("cell");
            w.cell("").expect("cell");
            w.end_row().expect("row");
        }
        assert_eq!(
            String::from_utf8(w.finish().expect("finish")).expect("UTF-8"),
            "h1,h2,h3,h4\nplain,\"a,b\",plain,\n\"say \"\"hi\"\"\",\"line\nbreak\",\"say \
             \"\"hi\"\"\",\n\"cr\rhere\",\"crlf\r\n\",\"cr\rhere\",\n'=1+1,'+1,'=1+1,\n'-2,\
             '@sum(A1),'-2,\n'\ttab,\"'\rcr first\",'\ttab,\n,é ☃ 😀 \u{2028},,\n'quoted \
             already,\"'=a,\"\"b\"\"\",'quoted already,\n spaced ,#hash, spaced ,\n\"\"\"\",\
             \",\",\"\"\"\",\n\u{7f}del,x\0y,\u{7f}del,\n"
        );

        let mut out = Vec::new();
        for c in AWKWARD.chunks(2) {
            let mut row = Row::new(&mut out);
            row.cell("");
            row.cells(&Cells::of(c.iter().map(|s| s.as_bytes())));
            row.cell(c[0]);
            row.end();
        }
        assert_eq!(
            String::from_utf8(out).expect("UTF-8"),
            ",plain,\"a,b\",plain\n,\"say \"\"hi\"\"\",\"line\nbreak\",\"say \"\"hi\"\"\"\n,\
             \"cr\rhere\",\"crlf\r\n\",\"cr\rhere\"\n,'=1+1,'+1,'=1+1\n,'-2,'@sum(A1),'-2\n,\
             '\ttab,\"'\rcr first\",'\ttab\n,,é ☃ 😀 \u{2028},\n,'quoted already,\"'=a,\
             \"\"b\"\"\",'quoted already\n, spaced ,#hash, spaced \n,\"\"\"\",\",\",\"\"\"\"\n,\
             \u{7f}del,x\0y,\u{7f}del\n"
        );
    }

    /// What the `csv` crate writes for `rows`, each cell neutralized first.
    fn csv_crate(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        w.write_record(header).expect("header");
        for row in rows {
            w.write_record(row.iter().map(|c| csv_cell(c)))
                .expect("row");
        }
        w.into_inner().expect("bytes")
    }

    proptest! {
        #[test]
        fn rows_are_the_bytes_the_csv_crate_writes(
            (width, rows) in (1..4usize).prop_flat_map(|width| (
                Just(width),
                prop::collection::vec(
                    prop::collection::vec("[a,\"\r\n=+@\t' -]{0,6}|.{0,4}", width),
                    0..8,
                ),
            )),
            encoded in 0..4usize,
            one_at_a_time in 0..4usize,
        ) {
            let header = &["a,b", "c\"", "d"][..width];
            let mut w = Csv::new(Vec::new(), header).expect("header");
            for row in &rows {
                // Some cells come encoded beforehand, then some one at a time, the rest as a
                // run.
                let (before, rest) = row.split_at(encoded.min(width));
                let (ones, run) = rest.split_at(one_at_a_time.min(rest.len()));
                if !before.is_empty() {
                    w.cells(&Cells::of(before.iter().map(|c| c.as_bytes())));
                }
                for c in ones {
                    w.cell(c).expect("cell");
                }
                if !run.is_empty() {
                    w.cells_of(run.iter().map(|c| c.as_bytes()));
                }
                w.end_row().expect("row");
            }
            let (ours, theirs) = (w.finish().expect("finish"), csv_crate(header, &rows));
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }
}
