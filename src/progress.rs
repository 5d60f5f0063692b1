//! Progress of long waits: spinners with state and elapsed time on a terminal, plain lines
//! (on a state change, and every 30 s) otherwise. Everything goes to stderr.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// A handle for one wait.
pub type WaitId = usize;

struct Waiting {
    what: String,
    state: String,
    last_line: Duration,
    bar: Option<ProgressBar>,
}

/// Where progress goes.
pub struct Progress {
    multi: Option<MultiProgress>,
    waits: Mutex<(WaitId, BTreeMap<WaitId, Waiting>)>,
}

impl Progress {
    /// Spinners when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        Self {
            multi: tty.then(MultiProgress::new),
            waits: Mutex::new((0, BTreeMap::new())),
        }
    }

    /// Prints a line without disturbing the spinners.
    pub fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    /// Starts showing a wait for `what`.
    pub fn start_wait(&self, what: &str) -> WaitId {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let Ok(mut guard) = self.waits.lock() else {
            return 0;
        };
        let (next, waits) = &mut *guard;
        *next += 1;
        waits.insert(
            *next,
            Waiting {
                what: what.to_string(),
                state: String::new(),
                last_line: Duration::ZERO,
                bar,
            },
        );
        *next
    }

    /// Shows the current state of a wait.
    pub fn update_wait(&self, id: WaitId, state: &str, elapsed: Duration) {
        let Ok(mut guard) = self.waits.lock() else {
            return;
        };
        let Some(w) = guard.1.get_mut(&id) else {
            return;
        };
        let text = format!("waiting for {}: {state} ({}s)", w.what, elapsed.as_secs());
        if let Some(bar) = &w.bar {
            bar.set_message(text);
        } else if w.state != state || elapsed - w.last_line >= Duration::from_secs(30) {
            eprintln!("  {text}");
            w.last_line = elapsed;
        }
        w.state = state.to_string();
    }

    /// Ends a wait.
    pub fn finish_wait(&self, id: WaitId, elapsed: Duration) {
        let Ok(mut guard) = self.waits.lock() else {
            return;
        };
        if let Some(w) = guard.1.remove(&id) {
            if let Some(bar) = w.bar {
                bar.finish_and_clear();
            }
            self.line(&format!("  {} ready after {}s", w.what, elapsed.as_secs()));
        }
    }

    /// Ends every wait still shown (its step was given up when the run was interrupted), so
    /// no spinner is left on the terminal.
    pub fn end_all_waits(&self) {
        let Ok(mut guard) = self.waits.lock() else {
            return;
        };
        for (_, w) in std::mem::take(&mut guard.1) {
            if let Some(bar) = w.bar {
                bar.finish_and_clear();
            }
            self.line(&format!("  stopped waiting for {}", w.what));
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ending_all_waits_leaves_none_shown() {
        let progress = Progress::new();
        let a = progress.start_wait("the database");
        progress.start_wait("the cache");
        progress.finish_wait(a, Duration::from_secs(3));
        let shown = |p: &Progress| p.waits.lock().map(|g| g.1.len()).unwrap_or(usize::MAX);
        assert_eq!(shown(&progress), 1);
        progress.end_all_waits();
        assert_eq!(shown(&progress), 0);
    }
}
