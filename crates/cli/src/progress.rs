//! The live progress of a run (`dbbackup`, `dbrecover`): one line per
//! server or datasource (bytes, rate, elapsed, its current step) and a
//! total line, drawn with `indicatif` on stderr, only when both stdout and
//! stderr are terminals and neither `--quiet` nor `--json` was given.
//! Otherwise every call is a no-op: nothing of it reaches a pipe or a
//! file. Log lines written meanwhile (see [`crate::Common::init_logging_for_run`])
//! are printed above the lines, not through them.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the lines are redrawn (elapsed times tick on their own).
const TICK: Duration = Duration::from_millis(250);

/// Whether a run should draw progress: stdout and stderr are terminals,
/// and neither `quiet` nor `json` was asked for.
pub fn wanted(quiet: bool, json: bool) -> bool {
    !quiet && !json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// The set of progress lines of one run (cheap to clone: shared).
#[derive(Clone)]
pub struct Display {
    bars: Option<MultiProgress>,
    /// Every line added, to stop their ticking when the run ends.
    lines: Arc<Mutex<Vec<ProgressBar>>>,
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("drawing", &self.is_drawing())
            .finish()
    }
}

impl Display {
    /// A display drawing on stderr when `draw`, else one that draws nothing.
    pub fn new(draw: bool) -> Display {
        Display {
            bars: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            lines: Arc::default(),
        }
    }

    /// A display that draws nothing.
    pub fn hidden() -> Display {
        Display {
            bars: None,
            lines: Arc::default(),
        }
    }

    /// Whether it draws.
    pub fn is_drawing(&self) -> bool {
        self.bars.is_some()
    }

    /// A new line labelled `label`, `width` characters wide (pad labels to
    /// the longest), waiting for its first step; it shows bytes and rate.
    pub fn line(&self, label: &str, width: usize) -> Line {
        self.add(label, width, true)
    }

    /// As [`Display::line`] for work without a byte count: elapsed time
    /// and step only.
    pub fn step_line(&self, label: &str, width: usize) -> Line {
        self.add(label, width, false)
    }

    fn add(&self, label: &str, width: usize, counts_bytes: bool) -> Line {
        let bar = match &self.bars {
            Some(m) => {
                let style = ProgressStyle::with_template(&format!(
                    "{{prefix:<{width}}}  {{elapsed:>4}}  {{msg}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let bar = m.add(ProgressBar::new_spinner().with_style(style));
                bar.set_prefix(label.to_owned());
                bar.set_message("waiting");
                bar.enable_steady_tick(TICK);
                if let Ok(mut lines) = self.lines.lock() {
                    lines.push(bar.clone());
                }
                Some(bar)
            }
            None => None,
        };
        Line {
            bar,
            counts_bytes,
            state: Mutex::new(State {
                started: Instant::now(),
                bytes: 0,
                step: "waiting".to_owned(),
            }),
        }
    }

    /// Runs `f` with the lines lifted off the screen (for printing), or
    /// just runs it when nothing is drawn.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bars {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }

    /// Stops every line and removes it from the screen (before the
    /// summary or the error is printed).
    pub fn clear(&self) {
        if let Ok(mut lines) = self.lines.lock() {
            for bar in lines.drain(..) {
                bar.finish_and_clear();
            }
        }
        if let Some(m) = &self.bars {
            let _ = m.clear();
        }
    }
}

/// The lines of one run: one per named part (a server, a datasource) in
/// a given order, and a total line below them.
pub struct Board {
    display: Display,
    lines: Mutex<BoardLines>,
}

#[derive(Default)]
struct BoardLines {
    parts: Vec<(String, Line)>,
    total: Option<Line>,
}

impl Board {
    /// A board on `display`, without lines until [`Board::set_parts`].
    pub fn new(display: Display) -> Board {
        Board {
            display,
            lines: Mutex::default(),
        }
    }

    /// A line for each of `names` and the total line; the parts' lines
    /// show bytes when `counts_bytes`, else only their step.
    pub fn set_parts<'n>(&self, names: impl IntoIterator<Item = &'n str>, counts_bytes: bool) {
        let names: Vec<&str> = names.into_iter().collect();
        let width = names
            .iter()
            .map(|n| n.len())
            .chain(std::iter::once("total".len()))
            .max()
            .unwrap_or(5);
        let Ok(mut lines) = self.lines.lock() else {
            return;
        };
        for name in names {
            let line = self.display.add(name, width, counts_bytes);
            lines.parts.push((name.to_owned(), line));
        }
        lines.total = Some(self.display.line("total", width));
    }

    /// The part `name`'s step is now `step`.
    pub fn part_step(&self, name: &str, step: &str) {
        self.with(|lines| {
            if let Some((_, line)) = lines.parts.iter().find(|(n, _)| n == name) {
                line.step(step);
            }
        });
    }

    /// The part `name` has `bytes`; the total shows the parts' sum.
    pub fn part_bytes(&self, name: &str, bytes: u64) {
        self.with(|lines| {
            if let Some((_, line)) = lines.parts.iter().find(|(n, _)| n == name) {
                line.bytes(bytes);
            }
            if let Some(total) = &lines.total {
                total.bytes(lines.parts.iter().map(|(_, l)| l.current_bytes()).sum());
            }
        });
    }

    /// The run's step is now `step` (on the total line).
    pub fn total_step(&self, step: &str) {
        self.with(|lines| lines.total.iter().for_each(|t| t.step(step)));
    }

    /// The total line shows `bytes` (work counted for the run as a whole).
    pub fn total_bytes(&self, bytes: u64) {
        self.with(|lines| lines.total.iter().for_each(|t| t.bytes(bytes)));
    }

    /// Takes every line off the screen (before the summary or the error).
    pub fn clear(&self) {
        self.display.clear();
    }

    fn with(&self, f: impl FnOnce(&BoardLines)) {
        if let Ok(lines) = self.lines.lock() {
            f(&lines);
        }
    }
}

/// What a line shows.
#[derive(Debug)]
struct State {
    started: Instant,
    bytes: u64,
    step: String,
}

/// One line: a server's or datasource's (or the total).
#[derive(Debug)]
pub struct Line {
    bar: Option<ProgressBar>,
    counts_bytes: bool,
    state: Mutex<State>,
}

impl Line {
    /// Its current step is now `step`; the first step starts its clock.
    pub fn step(&self, step: &str) {
        self.with_state(|s| {
            if s.step == "waiting" {
                s.started = Instant::now();
                if let Some(bar) = &self.bar {
                    bar.reset_elapsed();
                }
            }
            s.step = step.to_owned();
        });
    }

    /// It has `bytes` so far.
    pub fn bytes(&self, bytes: u64) {
        self.with_state(|s| s.bytes = bytes);
    }

    /// Adds `more` bytes (a total line summing others).
    pub fn add_bytes(&self, more: u64) {
        self.with_state(|s| s.bytes = s.bytes.saturating_add(more));
    }

    /// Its bytes so far.
    pub fn current_bytes(&self) -> u64 {
        self.state.lock().map(|s| s.bytes).unwrap_or(0)
    }

    fn with_state(&self, change: impl FnOnce(&mut State)) {
        let Ok(mut s) = self.state.lock() else { return };
        change(&mut s);
        if let Some(bar) = &self.bar {
            bar.set_message(if self.counts_bytes {
                render(s.bytes, s.started.elapsed(), &s.step)
            } else {
                s.step.clone()
            });
        }
    }
}

/// The text after a line's label and elapsed time: bytes, rate, step.
pub fn render(bytes: u64, took: Duration, step: &str) -> String {
    format!(
        "{:>10}  {:>7} MB/s  {step}",
        crate::units::bytes(bytes),
        crate::units::mb_per_s(bytes, took)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_display_takes_every_call_and_draws_nothing() {
        let d = Display::hidden();
        assert!(!d.is_drawing());
        let l = d.line("normal_0_1", 12);
        l.step("streaming the backup");
        l.bytes(2048);
        l.add_bytes(1024);
        assert_eq!(l.current_bytes(), 3072);
        assert_eq!(d.suspend(|| 7), 7);
        d.clear();
    }

    #[test]
    fn a_hidden_board_keeps_the_total_of_its_parts() {
        let b = Board::new(Display::hidden());
        b.set_parts(["a", "b"], true);
        b.part_step("a", "streaming");
        b.part_bytes("a", 10);
        b.part_bytes("b", 5);
        b.part_bytes("nobody", 99);
        b.total_step("servers");
        let total = b
            .lines
            .lock()
            .map(|l| l.total.as_ref().map(Line::current_bytes))
            .unwrap();
        assert_eq!(total, Some(15));
        b.clear();
    }

    #[test]
    fn a_line_reads_bytes_rate_and_step() {
        assert_eq!(
            render(3 << 20, Duration::from_secs(2), "streaming the backup"),
            "   3.0 MiB      1.6 MB/s  streaming the backup"
        );
        assert_eq!(
            render(0, Duration::ZERO, "waiting"),
            "       0 B        - MB/s  waiting"
        );
    }
}
