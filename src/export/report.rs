//! The evidence package's report: one model, written as `report.html` and as `report.pdf`, so
//! the two always say the same.

mod pdf;

pub use pdf::pdf;

/// A report: its title, the lines under it, its sections, and what every PDF page repeats at
/// its foot.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub title: String,
    pub intro: Vec<String>,
    pub sections: Vec<Section>,
    /// The package's signing-key fingerprint, on every page.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Text(String),
    /// A horizontal bar chart.
    Bars(Vec<Bar>),
    /// A table: its columns with their share of the width, and its rows.
    Table {
        columns: Vec<(String, f32)>,
        rows: Vec<Vec<String>>,
    },
    /// Commands to type, one a line.
    Code(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub count: usize,
    /// RGB.
    pub color: [u8; 3],
}

impl Bar {
    pub fn new(label: impl Into<String>, count: usize, color: [u8; 3]) -> Bar {
        Bar {
            label: label.into(),
            count,
            color,
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Width of a bar chart in HTML: labels, the longest bar, and room for its count after it.
const CHART_WIDTH: usize = 150 + 380 + 110;

fn bars_svg(heading: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let mut svg = format!(
        "<svg width=\"{CHART_WIDTH}\" height=\"{}\" role=\"img\" aria-label=\"{}\">",
        bars.len() * 28 + 6,
        esc(heading)
    );
    for (i, b) in bars.iter().enumerate() {
        let w = 380 * b.count / max;
        let y = i * 28 + 4;
        let [r, g, bl] = b.color;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{w}\" \
             height=\"20\" fill=\"#{r:02x}{g:02x}{bl:02x}\"/><text x=\"{}\" y=\"{}\" font-size=\"13\">{}</text>",
            y + 15,
            esc(&b.label),
            156 + w,
            y + 15,
            b.count
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
<style>body{{font-family:sans-serif;margin:2em;color:#1b2733}}table{{border-collapse:collapse}}\
td,th{{border-bottom:1px solid #dde3e8;padding:4px 8px;text-align:left;font-size:13px;vertical-align:top}}\
pre{{background:#f3f5f7;padding:8px}}</style></head><body><h1>{}</h1>",
        esc(&r.title),
        esc(&r.title)
    );
    for line in &r.intro {
        out.push_str(&format!("<p>{}</p>", esc(line)));
    }
    for s in &r.sections {
        out.push_str(&format!("<h2>{}</h2>", esc(&s.heading)));
        for b in &s.blocks {
            match b {
                Block::Text(t) => out.push_str(&format!("<p>{}</p>", esc(t))),
                Block::Bars(bars) => out.push_str(&bars_svg(&s.heading, bars)),
                Block::Table { columns, rows } => {
                    out.push_str("<table><tr>");
                    for (c, _) in columns {
                        out.push_str(&format!("<th>{}</th>", esc(c)));
                    }
                    out.push_str("</tr>");
                    for row in rows {
                        out.push_str("<tr>");
                        for cell in row {
                            out.push_str(&format!("<td>{}</td>", esc(cell).replace('\n', "<br>")));
                        }
                        out.push_str("</tr>");
                    }
                    out.push_str("</table>");
                }
                Block::Code(lines) => {
                    out.push_str(&format!("<pre>{}</pre>", esc(&lines.join("\n"))));
                }
            }
        }
    }
    out.push_str(&format!(
        "<p><small>Signing key {}</small></p></body></html>\n",
        esc(&r.fingerprint)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_it_shows() {
        let r = Report {
            title: "T".into(),
            intro: vec!["a <b> & \"c\"".into()],
            sections: vec![Section {
                heading: "S".into(),
                blocks: vec![
                    Block::Bars(vec![Bar::new("<x>", 3, [1, 2, 3])]),
                    Block::Table {
                        columns: vec![("c".into(), 1.0)],
                        rows: vec![vec!["<td>".into()]],
                    },
                ],
            }],
            fingerprint: "ed25519:ab".into(),
        };
        let h = html(&r);
        assert!(h.contains("<p>a &lt;b&gt; &amp; &quot;c&quot;</p>"));
        assert!(h.contains("&lt;x&gt;") && h.contains("fill=\"#010203\""));
        assert!(h.contains("<td>&lt;td&gt;</td>"));
        assert!(!h.contains("<x>"));
    }
}
