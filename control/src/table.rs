//! Plain-text tables for the CLI: a header and rows, columns padded to their widest cell; columns of numbers
//! right-aligned, the others left-aligned.

pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table, one line per row, columns two spaces apart.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        // A column is numeric when every cell under the header is a number (or `-`, none).
        let numeric: Vec<bool> = (0..cols)
            .map(|c| {
                self.rows[1..]
                    .iter()
                    .filter_map(|r| r.get(c))
                    .all(|s| s == "-" || s.parse::<f64>().is_ok())
            })
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c > 0 {
                    line += "  ";
                }
                if numeric[c] {
                    line += &format!("{cell:>w$}", w = widths[c]);
                } else {
                    line += &format!("{cell:<w$}", w = widths[c]);
                }
            }
            out += line.trim_end();
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["NAME", "N"]);
        t.row(vec!["a".into(), "1000".into()]);
        t.row(vec!["longer".into(), "7".into()]);
        t.row(vec!["x".into(), "-".into()]);
        assert_eq!(
            t.render(),
            "NAME       N\na       1000\nlonger     7\nx          -\n"
        );
    }
}
