//! Progress lines: plain text on stdout, each stamped with the time since the run started, so a
//! reader sees what happens and how long each step took. Tests capture the lines to check what
//! the user would have seen (and that no secret is among it).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where progress goes. Cheap to clone; every clone shares the start time and the capture.
#[derive(Debug, Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    /// Every line printed so far, when capturing (tests).
    captured: Option<Mutex<Vec<String>>>,
}

impl Progress {
    /// Prints to stdout; the clock starts now.
    pub fn stdout() -> Self {
        Progress {
            inner: Arc::new(Inner {
                started: Instant::now(),
                captured: None,
            }),
        }
    }

    /// Prints to stdout and keeps every line for [`Progress::lines`].
    pub fn capturing() -> Self {
        Progress {
            inner: Arc::new(Inner {
                started: Instant::now(),
                captured: Some(Mutex::new(Vec::new())),
            }),
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// One progress line, `[  12.3s] text`.
    pub fn step(&self, text: impl AsRef<str>) {
        let seconds = self.elapsed().as_secs_f64();
        self.emit(format!("[{seconds:7.2}s] {}", text.as_ref()));
    }

    /// A line without a time stamp (the summary, help for the user).
    pub fn plain(&self, text: impl AsRef<str>) {
        self.emit(text.as_ref().to_owned());
    }

    /// The captured lines (empty unless made with [`Progress::capturing`]).
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .captured
            .as_ref()
            .map(|lines| lines.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .unwrap_or_default()
    }

    fn emit(&self, line: String) {
        println!("{line}");
        if let Some(captured) = &self.inner.captured {
            captured
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    }
}

/// Bytes as a short human-readable size (`1.5 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(50 * 1024 * 1024), "50.0 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn lines_are_stamped_and_captured() {
        let progress = Progress::capturing();
        progress.step("first");
        progress.plain("summary");
        let lines = progress.lines();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].starts_with('[') && lines[0].ends_with("s] first"),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], "summary");
        assert!(Progress::stdout().lines().is_empty());
    }
}
