//! The report as a paginated A4 PDF (krilla), in DejaVu Sans embedded in the program: no
//! browser, no fonts of the machine. Every page ends with the signing key's fingerprint and
//! its page number.

use std::sync::LazyLock;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::text::{Font, TextDirection};
use krilla::Document;
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

use super::{Bar, Block, Report};
use crate::{Error, Result};

static REGULAR: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// A4 in points, and its margins.
const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
/// Where the body stops: the foot line and the footer sit below.
const BOTTOM: f32 = PAGE.1 - MARGIN - 24.0;
const WIDTH: f32 = PAGE.0 - 2.0 * MARGIN;

const INK: [u8; 3] = [0x1b, 0x27, 0x33];
const MUTED: [u8; 3] = [0x5b, 0x67, 0x73];
const RULE: [u8; 3] = [0xdd, 0xe3, 0xe8];
const SHADE: [u8; 3] = [0xf3, 0xf5, 0xf7];

/// One face: its data for the PDF and its advance widths for the layout.
struct Face {
    font: Font,
    data: &'static [u8],
}

impl Face {
    fn new(data: &'static [u8]) -> Face {
        Face {
            font: Font::new(data.into(), 0).expect("the embedded font parses"),
            data,
        }
    }

    /// The width of `text` at `size`, as the PDF sets it (advance widths, no kerning: what
    /// krilla's simple text does for Latin text).
    fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(font) = skrifa::FontRef::new(self.data) else {
            return 0.0;
        };
        let charmap = font.charmap();
        let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                let glyph = charmap.map(c).unwrap_or_default();
                metrics.advance_width(glyph).unwrap_or(0.0)
            })
            .sum()
    }
}

static FACES: LazyLock<[Face; 2]> = LazyLock::new(|| [Face::new(REGULAR), Face::new(BOLD)]);

/// What is drawn on a page, laid out before the page count is known.
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        color: [u8; 3],
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: [u8; 3],
    },
}

struct Layout {
    pages: Vec<Vec<Op>>,
    /// The baseline cursor's top: where the next line's box starts.
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Starts a new page unless `h` points still fit on this one.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM && self.y > MARGIN {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, color: [u8; 3], text: &str) {
        let y = self.y + size;
        self.ops().push(Op::Text {
            x,
            y,
            size,
            bold,
            color,
            text: text.to_string(),
        });
    }

    /// Wrapped text in `width` from `x`, a page break allowed between lines.
    fn paragraph(&mut self, x: f32, width: f32, size: f32, bold: bool, color: [u8; 3], t: &str) {
        let leading = size * 1.4;
        for line in wrap(t, width, size, bold) {
            self.need(leading);
            self.text(x, size, bold, color, &line);
            self.y += leading;
        }
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: [u8; 3]) {
        self.ops().push(Op::Rect { x, y, w, h, color });
    }

    fn bars(&mut self, bars: &[Bar]) {
        let size = 10.0;
        let (label_w, bar_w, row) = (140.0, WIDTH - 140.0 - 60.0, 20.0);
        let max = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1);
        for b in bars {
            self.need(row);
            self.text(
                MARGIN,
                size,
                false,
                INK,
                &fit(&b.label, label_w - 6.0, size),
            );
            let w = bar_w * b.count as f32 / max as f32;
            if w > 0.0 {
                let y = self.y;
                self.rect(MARGIN + label_w, y, w, 14.0, b.color);
            }
            self.text(
                MARGIN + label_w + w + 4.0,
                size,
                false,
                INK,
                &b.count.to_string(),
            );
            self.y += row;
        }
        self.y += 4.0;
    }

    fn table(&mut self, columns: &[(String, f32)], rows: &[Vec<String>]) {
        let size = 8.0;
        let leading = size * 1.35;
        let total: f32 = columns.iter().map(|c| c.1).sum::<f32>().max(f32::EPSILON);
        let widths: Vec<f32> = columns.iter().map(|c| WIDTH * c.1 / total).collect();
        let header = |l: &mut Layout| {
            let mut x = MARGIN;
            for ((name, _), w) in columns.iter().zip(&widths) {
                l.text(x, size, true, INK, &fit(name, w - 6.0, size));
                x += w;
            }
            l.y += leading + 2.0;
            let y = l.y - 2.0;
            l.rect(MARGIN, y, WIDTH, 0.7, MUTED);
        };
        self.need(leading * 3.0);
        header(self);
        for row in rows {
            let cells: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| wrap(c, w - 6.0, size, false))
                .collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let h = lines as f32 * leading + 4.0;
            if self.y + h > BOTTOM {
                self.new_page();
                header(self);
            }
            let top = self.y;
            let mut x = MARGIN;
            for (cell, w) in cells.iter().zip(&widths) {
                self.y = top;
                for line in cell {
                    self.text(x, size, false, INK, line);
                    self.y += leading;
                }
                x += w;
            }
            self.y = top + h;
            let y = self.y - 2.0;
            self.rect(MARGIN, y, WIDTH, 0.5, RULE);
        }
        self.y += 6.0;
    }

    fn code(&mut self, lines: &[String]) {
        let size = 8.0;
        let leading = size * 1.4;
        for line in lines {
            for part in wrap(line, WIDTH - 12.0, size, false) {
                self.need(leading);
                let y = self.y;
                self.rect(MARGIN, y, WIDTH, leading, SHADE);
                self.text(MARGIN + 6.0, size, false, INK, &part);
                self.y += leading;
            }
        }
        self.y += 6.0;
    }
}

/// `text` broken into lines no wider than `width`: at spaces, and inside a word only when
/// the word alone is wider (a hash, a long scope list).
fn wrap(text: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
    let face = &FACES[usize::from(bold)];
    let mut lines = Vec::new();
    for source in text.split('\n') {
        let mut line = String::new();
        for word in source.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if face.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word on a line of its own, cut where it must be.
            for c in word.chars() {
                line.push(c);
                if face.width(&line, size) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// `text` on one line of `width`, shortened with an ellipsis if it must be.
fn fit(text: &str, width: f32, size: f32) -> String {
    let face = &FACES[0];
    if face.width(text, size) <= width {
        return text.to_string();
    }
    let mut out: String = text.to_string();
    while !out.is_empty() && face.width(&format!("{out}…"), size) > width {
        out.pop();
    }
    format!("{out}…")
}

fn fill(color: [u8; 3]) -> Fill {
    Fill {
        paint: rgb::Color::new(color[0], color[1], color[2]).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

/// The report laid out on pages (without their footers).
fn layout(r: &Report) -> Vec<Vec<Op>> {
    let mut l = Layout::new();
    l.paragraph(MARGIN, WIDTH, 18.0, true, INK, &r.title);
    l.y += 4.0;
    for line in &r.intro {
        l.paragraph(MARGIN, WIDTH, 10.0, false, INK, line);
    }
    for s in &r.sections {
        l.y += 10.0;
        // A heading is never the last line of a page.
        l.need(14.0 * 1.4 + 30.0);
        l.paragraph(MARGIN, WIDTH, 13.0, true, INK, &s.heading);
        l.y += 2.0;
        for b in &s.blocks {
            match b {
                Block::Text(t) => {
                    l.paragraph(MARGIN, WIDTH, 10.0, false, INK, t);
                    l.y += 3.0;
                }
                Block::Bars(bars) => l.bars(bars),
                Block::Table { columns, rows } => l.table(columns, rows),
                Block::Code(lines) => l.code(lines),
            }
        }
    }
    l.pages
}

/// The report as PDF bytes.
pub fn pdf(r: &Report) -> Result<Vec<u8>> {
    let pages = layout(r);
    let [regular, bold] = &*FACES;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(r.title.clone())
            .creator(format!("Steward {}", crate::VERSION)),
    );
    let count = pages.len();
    for (n, ops) in pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE.0, PAGE.1)
            .ok_or_else(|| Error::Internal("the report's page size is invalid".into()))?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        let footer = [
            Op::Rect {
                x: MARGIN,
                y: PAGE.1 - MARGIN - 14.0,
                w: WIDTH,
                h: 0.5,
                color: RULE,
            },
            Op::Text {
                x: MARGIN,
                y: PAGE.1 - MARGIN,
                size: 7.5,
                bold: false,
                color: MUTED,
                text: format!("Signing key {}", r.fingerprint),
            },
            Op::Text {
                x: PAGE.0 - MARGIN - 60.0,
                y: PAGE.1 - MARGIN,
                size: 7.5,
                bold: false,
                color: MUTED,
                text: format!("page {} of {count}", n + 1),
            },
        ];
        for op in ops.iter().chain(&footer) {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold: b,
                    color,
                    text,
                } => {
                    surface.set_fill(Some(fill(*color)));
                    let font = if *b { &bold.font } else { &regular.font };
                    surface.draw_text(
                        Point::from_xy(*x, *y),
                        font.clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Rect { x, y, w, h, color } => {
                    let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else {
                        continue;
                    };
                    let mut path = PathBuilder::new();
                    path.push_rect(rect);
                    if let Some(path) = path.finish() {
                        surface.set_fill(Some(fill(*color)));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| Error::Internal(format!("cannot write the PDF report: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_fit_and_keep_every_word() {
        let text = "granted beyond approval: patient/*.read user/Observation.write \
                    0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for width in [60.0, 120.0, 300.0] {
            let lines = wrap(text, width, 8.0, false);
            for line in &lines {
                assert!(FACES[0].width(line, 8.0) <= width, "{line:?} fits {width}");
            }
            let joined: String = lines.concat().split_whitespace().collect();
            let expected: String = text.split_whitespace().collect();
            assert_eq!(joined, expected, "nothing lost at {width}");
        }
        assert_eq!(wrap("a\nb", 100.0, 8.0, false), ["a", "b"]);
    }

    #[test]
    fn a_long_report_breaks_into_pages_each_with_its_footer() {
        let rows: Vec<Vec<String>> = (0..400)
            .map(|i| vec![format!("row {i}"), "evidence ".repeat(i % 7 + 1)])
            .collect();
        let r = Report {
            title: "Report".into(),
            intro: vec!["Intro".into()],
            sections: vec![super::super::Section {
                heading: "Rows".into(),
                blocks: vec![Block::Table {
                    columns: vec![("name".into(), 1.0), ("evidence".into(), 3.0)],
                    rows,
                }],
            }],
            fingerprint: "ed25519:00ff".into(),
        };
        let pages = layout(&r);
        assert!(pages.len() > 5, "{} pages", pages.len());
        let mut texts = Vec::new();
        for ops in &pages {
            for op in ops {
                if let Op::Text { y, size, text, .. } = op {
                    assert!(
                        *y - size >= MARGIN && *y <= BOTTOM,
                        "{text:?} at {y} is inside"
                    );
                    texts.push(text.as_str());
                }
            }
            // Every page of the table starts with its header.
            assert!(
                matches!(&ops[0], Op::Text { text, bold: true, .. } if text == "name" || text == "Report")
            );
        }
        for i in 0..400 {
            assert!(
                texts.contains(&format!("row {i}").as_str()),
                "row {i} is laid out"
            );
        }
        assert!(pdf(&r).expect("pdf").starts_with(b"%PDF-"));
    }
}
