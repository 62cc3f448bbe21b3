//! How the seeder drives its calls: retries of retriable answers, bounded
//! concurrency, and progress lines.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tonic::Code;

/// Calls `call` until it succeeds or fails with a non-transient status (the
/// request ids make repeats safe).
pub(super) async fn retry<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if attempt < 6
                    && matches!(
                        status.code(),
                        Code::Unavailable | Code::Aborted | Code::DeadlineExceeded | Code::Internal | Code::Unknown
                    ) =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Runs `make(item)` for every item with at most `parallelism` in flight and
/// hands the results to `done` in item order.
pub(super) async fn drive<I, T, Fut>(
    progress: &mut Progress,
    items: Vec<I>,
    parallelism: usize,
    mut make: impl FnMut(I) -> Fut,
    mut done: impl FnMut(T) -> anyhow::Result<()>,
) -> anyhow::Result<()>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut results = futures::stream::iter(items.into_iter().map(&mut make)).buffered(parallelism.max(1));
    while let Some(result) = results.next().await {
        done(result?)?;
        progress.tick();
    }
    Ok(())
}

/// Progress lines (rows/s) every few seconds.
pub(super) struct Progress {
    pub(super) phase: String,
    pub(super) total: usize,
    pub(super) done: usize,
    pub(super) started: Instant,
    pub(super) last_print: Instant,
    pub(super) last_done: usize,
    pub(super) quiet: bool,
}

impl Progress {
    pub(super) fn new(phase: &str, total: usize, quiet: bool) -> Self {
        let now = Instant::now();
        Self { phase: phase.to_owned(), total, done: 0, started: now, last_print: now, last_done: 0, quiet }
    }

    pub(super) fn tick(&mut self) {
        self.done += 1;
        let since = self.last_print.elapsed();
        if !self.quiet && since >= Duration::from_secs(5) {
            let recent = (self.done - self.last_done) as f64 / since.as_secs_f64();
            let overall = self.done as f64 / self.started.elapsed().as_secs_f64();
            println!(
                "[seed] {:<22} {:>7}/{:<7} {recent:>6.0} rows/s (overall {overall:.0}/s, {:.0} s)",
                self.phase,
                self.done,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
            self.last_print = Instant::now();
            self.last_done = self.done;
        }
    }

    pub(super) fn finish(&self) {
        if !self.quiet {
            let elapsed = self.started.elapsed().as_secs_f64();
            println!(
                "[seed] {:<22} {:>7} done in {elapsed:.1} s ({:.0} rows/s)",
                self.phase,
                self.done,
                self.done as f64 / elapsed.max(0.001)
            );
        }
    }
}
