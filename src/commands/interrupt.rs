//! SIGINT and SIGTERM during apply and destroy. The first signal stops the run from starting
//! any new step ([`Stop::no_new_steps`]); the steps in flight get [`GRACE`] to finish, then
//! are given up ([`Stop::give_up`]), at once on a second signal. The workflow then releases
//! the stack's lock, reports what was done and what was not, and the command exits 130
//! (SIGINT) or 143 (SIGTERM). Work that only reads (loading, planning, the confirmation) is
//! dropped at the first signal. A third signal exits at once, leaving the lock behind.

use crate::executor::Stop;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long the steps in flight may take to finish after the first signal before they are
/// given up: most steps are one or a few API calls and finish in it; a step waiting for AWS
/// (a database becoming available) is given up and AWS goes on with it. With the lock's
/// release (one SSM call), a run ends well inside the 10 s a container runtime gives between
/// SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// A signal that stops apply and destroy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (e.g. a CI runner or container runtime stopping the job).
    Terminate,
}

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The shell's convention: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// A workflow was stopped by a signal before it changed anything.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {} before any change; nothing was changed", .0.name())]
pub struct Interrupted(pub Signal);

/// Listens for signals while a workflow runs; dropped, it stops acting on them.
pub struct Interrupt {
    stop: Stop,
    received: Arc<OnceLock<Signal>>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM (Ctrl-C only where there are no Unix signals):
    /// from now on they no longer end the process at once.
    pub fn listen() -> anyhow::Result<Self> {
        let (tx, rx) = unbounded_channel();
        #[cfg(unix)]
        {
            use anyhow::Context;
            use tokio::signal::unix::{SignalKind, signal};
            let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
            let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
            tokio::spawn(async move {
                loop {
                    let received = tokio::select! {
                        Some(()) = int.recv() => Signal::Interrupt,
                        Some(()) = term.recv() => Signal::Terminate,
                        else => break,
                    };
                    if tx.send(received).is_err() {
                        break;
                    }
                }
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if tx.send(Signal::Interrupt).is_err() {
                    break;
                }
            }
        });
        Ok(Self::watch(rx, GRACE))
    }

    /// Acts on the signals `signals` delivers: the first cancels `no_new_steps`, `grace`
    /// later (or at the second) `give_up` is cancelled; the third exits.
    fn watch(mut signals: UnboundedReceiver<Signal>, grace: Duration) -> Self {
        let stop = Stop::default();
        let received = Arc::new(OnceLock::new());
        let watcher = tokio::spawn({
            let stop = stop.clone();
            let received = received.clone();
            async move {
                let Some(first) = signals.recv().await else {
                    return;
                };
                let _ = received.set(first);
                stop.no_new_steps.cancel();
                tokio::select! {
                    () = tokio::time::sleep(grace) => {}
                    Some(_) = signals.recv() => {}
                }
                stop.give_up.cancel();
                if let Some(last) = signals.recv().await {
                    eprintln!(
                        "{}: exiting now; the stack's lock may be left behind (`--force-unlock` takes it over)",
                        last.name()
                    );
                    std::process::exit(last.exit_code().into());
                }
            }
        });
        Self {
            stop,
            received,
            watcher,
        }
    }

    /// The tokens the executor checks.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<Signal> {
        self.received.get().copied()
    }

    /// An [`Interrupted`] error when a signal has arrived.
    pub fn check(&self) -> Result<(), Interrupted> {
        match self.received() {
            Some(signal) => Err(Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Runs `work`, which changes nothing in AWS, unless a signal arrives first: then `work`
    /// is dropped and the result is an [`Interrupted`] error.
    pub async fn unless_stopped<T>(
        &self,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            biased;
            () = self.stop.no_new_steps.cancelled() => {
                Err(Interrupted(self.received().unwrap_or(Signal::Interrupt)).into())
            }
            result = work => result,
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets the watcher task run.
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_signal_stops_new_steps_and_the_grace_ends_the_steps_in_flight() {
        let (tx, rx) = unbounded_channel();
        let interrupt = Interrupt::watch(rx, Duration::from_secs(5));
        settle().await;
        assert!(interrupt.check().is_ok());
        assert!(!interrupt.stop().no_new_steps.is_cancelled());
        assert!(tx.send(Signal::Terminate).is_ok());
        settle().await;
        assert_eq!(interrupt.received(), Some(Signal::Terminate));
        assert!(interrupt.stop().no_new_steps.is_cancelled());
        assert!(!interrupt.stop().give_up.is_cancelled());
        tokio::time::sleep(Duration::from_millis(4900)).await;
        assert!(
            !interrupt.stop().give_up.is_cancelled(),
            "still in the grace"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(interrupt.stop().give_up.is_cancelled(), "grace over");
        assert_eq!(
            interrupt.check().map_err(|e| e.to_string()),
            Err("interrupted by SIGTERM before any change; nothing was changed".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_gives_up_at_once() {
        let (tx, rx) = unbounded_channel();
        let interrupt = Interrupt::watch(rx, Duration::from_secs(5));
        assert!(tx.send(Signal::Interrupt).is_ok());
        settle().await;
        assert!(!interrupt.stop().give_up.is_cancelled());
        assert!(tx.send(Signal::Interrupt).is_ok());
        settle().await;
        assert!(interrupt.stop().give_up.is_cancelled());
        assert_eq!(interrupt.received().map(Signal::exit_code), Some(130));
    }

    #[tokio::test(start_paused = true)]
    async fn reading_work_is_dropped_at_the_first_signal() {
        let (tx, rx) = unbounded_channel();
        let interrupt = Interrupt::watch(rx, Duration::from_secs(5));
        let done = interrupt.unless_stopped(async { Ok(1) }).await;
        assert_eq!(done.ok(), Some(1));
        let slow = interrupt.unless_stopped(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(2)
        });
        let signal = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = tx.send(Signal::Interrupt);
        };
        let (ended, ()) = tokio::join!(slow, signal);
        let error = ended.err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("interrupted by SIGINT before any change; nothing was changed")
        );
    }
}
