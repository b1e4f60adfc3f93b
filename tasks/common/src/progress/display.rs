//! Showing a [`Meter`] while the work goes on, from a thread of its own that reads it: the
//! workers never wait for the screen or the log.

use std::io::IsTerminal;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{Meter, human_bytes};

/// How often a terminal bar is redrawn.
const BAR_TICK: Duration = Duration::from_millis(100);
/// How often a progress line is logged when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Shows a meter until [`Display::finish`] (or drop).
pub struct Display {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

enum Style {
    Bar(ProgressBar),
    Lines,
}

impl Display {
    /// A bar when stderr is a terminal, a line every few seconds otherwise.
    pub fn show(label: &str, meter: &Meter) -> Self {
        if std::io::stderr().is_terminal() {
            Self::start(label, meter, Style::Bar(new_bar(label)), BAR_TICK)
        } else {
            Self::lines(label, meter, LINE_EVERY)
        }
    }

    /// Plain lines every `every`, and one at the end.
    pub fn lines(label: &str, meter: &Meter, every: Duration) -> Self {
        Self::start(label, meter, Style::Lines, every)
    }

    fn start(label: &str, meter: &Meter, style: Style, tick: Duration) -> Self {
        let (stop, stopped) = mpsc::channel();
        let (label, meter) = (label.to_owned(), meter.clone());
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            loop {
                let last = !matches!(stopped.recv_timeout(tick), Err(RecvTimeoutError::Timeout));
                match &style {
                    Style::Bar(bar) if last => bar.finish_and_clear(),
                    Style::Bar(bar) => {
                        bar.set_length(meter.total());
                        bar.set_position(meter.done());
                    }
                    Style::Lines => tracing::info!("{}", line(&label, &meter, started)),
                }
                if last {
                    return;
                }
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops showing; a log gets its last line.
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn new_bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

fn line(label: &str, meter: &Meter, started: Instant) -> String {
    let (done, total) = (meter.done(), meter.total());
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let percent = if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    format!(
        "{label}: {} of {} ({percent:.0}%), {}/s",
        human_bytes(done),
        human_bytes(total),
        human_bytes((done as f64 / secs) as u64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_how_far() {
        let meter = Meter::default();
        meter.set_total(4 << 20);
        meter.inc(1 << 20);
        let text = line("pushing", &meter, Instant::now());
        assert!(
            text.starts_with("pushing: 1.0 MiB of 4.0 MiB (25%), "),
            "{text}"
        );
    }

    #[test]
    fn finishing_stops_the_thread() {
        let meter = Meter::default();
        let display = Display::lines("hashing", &meter, Duration::from_secs(3600));
        let started = Instant::now();
        display.finish();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
