//! The result table: one row per measurement, printed as Markdown so it can go into the README
//! as it is.

/// One measured item.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured.
    pub item: String,
    /// The measured figure, with its unit.
    pub measured: String,
    /// The baseline figure from the same run (or "-").
    pub baseline: String,
    /// measured / baseline, or the figure the goal is about.
    pub ratio: String,
    /// The goal, in words.
    pub goal: String,
    /// `Some(true)` pass, `Some(false)` fail, `None` for context-only rows.
    pub pass: Option<bool>,
}

impl Row {
    /// A row; `pass` is `None` for figures printed for context only.
    pub fn new(
        item: impl Into<String>,
        measured: impl Into<String>,
        baseline: impl Into<String>,
        ratio: impl Into<String>,
        goal: impl Into<String>,
        pass: Option<bool>,
    ) -> Row {
        Row {
            item: item.into(),
            measured: measured.into(),
            baseline: baseline.into(),
            ratio: ratio.into(),
            goal: goal.into(),
            pass,
        }
    }

    /// The same row with the S3 server it ran against named after the item.
    pub fn on_server(mut self, server: &str) -> Row {
        self.item = format!("{} [{server}]", self.item);
        self
    }
}

/// The table as Markdown, columns padded to line up in a terminal.
pub fn render(rows: &[Row]) -> String {
    let header = ["item", "measured", "baseline", "ratio", "goal", "result"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.item.clone(),
                row.measured.clone(),
                row.baseline.clone(),
                row.ratio.clone(),
                row.goal.clone(),
                match row.pass {
                    Some(true) => "pass".to_owned(),
                    Some(false) => "FAIL".to_owned(),
                    None => "context".to_owned(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header.map(str::to_owned));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// `a / b` with two decimals, or "-" when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "-".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_markdown_with_pass_fail_and_context() {
        let rows = vec![
            Row::new("a", "1 ms", "2 ms", "0.50", "< 1", Some(true)),
            Row::new("longer item", "3", "-", "-", "-", None),
            Row::new("b", "9", "1", "9.00", "< 1", Some(false)),
        ];
        let table = render(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("| item        | measured |"));
        assert!(lines[1].starts_with("| ----------- | "));
        assert!(lines[2].ends_with("| pass    |"), "{}", lines[2]);
        assert!(lines[3].ends_with("| context |"));
        assert!(lines[4].ends_with("| FAIL    |"));
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() == lines[0].chars().count())
        );
    }

    #[test]
    fn ratio_guards_against_zero() {
        assert_eq!(ratio(1.0, 4.0), "0.25");
        assert_eq!(ratio(1.0, 0.0), "-");
    }
}
