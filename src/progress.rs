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
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
