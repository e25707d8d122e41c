//! Blocking line output off the arbiter: a [`LineWriter`] owns a file (or
//! stdout, or any writer) on a thread of its own, and actors hand it lines.

use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::oneshot;

use super::panic_message;

/// How many lines may wait for the writer thread before the actor that
/// writes them pauses.
const QUEUE: usize = 1024;

enum Command<T> {
    Line(T),
    Flush(oneshot::Sender<io::Result<()>>),
}

/// Why a line was not written.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The writer failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The writer panicked; the thread goes on with the next line.
    #[error("the writer panicked: {0}")]
    Panicked(String),
}

/// The writer thread has ended, so this line was not written.
#[derive(Debug)]
pub struct WriterGone<T>(pub T);

impl<T> fmt::Display for WriterGone<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the writer thread has ended")
    }
}

impl<T: fmt::Debug> std::error::Error for WriterGone<T> {}

/// Lines written, in order, by a thread of their own.
///
/// Writes and flushes block, so they must not run in an actor's handler:
/// that would block every actor of its arbiter (the bus's, by default). A
/// `LineWriter` moves them to a dedicated thread. Each line is written
/// followed by `\n` and flushed, in the order it was given.
///
/// The queue between the actor and the thread is bounded (1,024 lines):
/// when it is full, [`write`](Self::write) pauses the actor (`ctx.wait`)
/// until there is room, so lines keep their order, memory stays bounded, and
/// the actor's mailbox (and then the registry's buffer) absorbs the wait.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use workbus_subscribers::toolkit::{LineError, LineWriter};
///
/// struct Log(LineWriter<String>);
/// impl Actor for Log { type Context = Context<Self>; }
///
/// #[derive(Message)]
/// #[rtype(result = "()")]
/// struct Line(String);
/// impl Handler<Line> for Log {
///     type Result = ();
///     fn handle(&mut self, Line(text): Line, ctx: &mut Context<Self>) {
///         self.0.write(text, ctx).expect("the writer thread is running");
///     }
/// }
///
/// #[derive(Message)]
/// #[rtype(result = "std::io::Result<()>")]
/// struct Flush;
/// impl Handler<Flush> for Log {
///     type Result = ResponseFuture<std::io::Result<()>>;
///     fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
///         Box::pin(self.0.flush())
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let dir = tempfile::tempdir().unwrap();
///     let path = dir.path().join("lines.txt");
///     let file = std::fs::File::create(&path).unwrap();
///     let writer = LineWriter::spawn("doc", file, |line: &String, written: Result<(), LineError>| {
///         if let Err(e) = written {
///             eprintln!("lost {line}: {e}");
///         }
///     })
///     .unwrap();
///     let log = Log(writer).start();
///     log.send(Line("one".into())).await.unwrap();
///     log.send(Line("two".into())).await.unwrap();
///     log.send(Flush).await.unwrap().unwrap();
///     assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
/// });
/// ```
pub struct LineWriter<T> {
    tx: mpsc::Sender<Command<T>>,
}

impl<T> Clone for LineWriter<T> {
    fn clone(&self) -> Self {
        LineWriter {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for LineWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineWriter").finish_non_exhaustive()
    }
}

impl<T: AsRef<[u8]> + Send + 'static> LineWriter<T> {
    /// Starts a thread named `workbus-<name>` that owns `sink`. Each line is
    /// given to `report` on that thread once written and flushed, with the
    /// result (an error, or a panic of the writer), to be counted and logged.
    pub fn spawn<W, R>(name: &str, sink: W, mut report: R) -> io::Result<Self>
    where
        W: Write + Send + 'static,
        R: FnMut(&T, Result<(), LineError>) + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Command<T>>(QUEUE);
        std::thread::Builder::new()
            .name(format!("workbus-{name}"))
            .spawn(move || {
                let mut sink = sink;
                while let Some(command) = rx.blocking_recv() {
                    match command {
                        Command::Line(line) => {
                            let result = shielded(|| {
                                sink.write_all(line.as_ref())?;
                                sink.write_all(b"\n")?;
                                sink.flush()
                            });
                            report(&line, result);
                        }
                        Command::Flush(answer) => {
                            let flushed = shielded(|| sink.flush()).map_err(|e| match e {
                                LineError::Io(e) => e,
                                panicked => io::Error::other(panicked.to_string()),
                            });
                            let _ = answer.send(flushed);
                        }
                    }
                }
                // Every sender is gone: what was written so far reaches the file.
                let _ = shielded(|| sink.flush());
            })?;
        Ok(LineWriter { tx })
    }

    /// Queues `line`. When the queue is full, pauses `ctx`'s actor until
    /// there is room (nothing else of that actor runs meanwhile, so the
    /// order is kept). Hands the line back if the thread has ended.
    pub fn write<A>(&self, line: T, ctx: &mut Context<A>) -> Result<(), WriterGone<T>>
    where
        A: Actor<Context = Context<A>>,
    {
        match self.tx.try_send(Command::Line(line)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => {
                let tx = self.tx.clone();
                ctx.wait(actix::fut::wrap_future(async move {
                    if tx.send(command).await.is_err() {
                        tracing::error!(
                            "the writer thread ended while a line waited for it: the line is lost"
                        );
                    }
                }));
                Ok(())
            }
            Err(TrySendError::Closed(Command::Line(line))) => Err(WriterGone(line)),
            Err(TrySendError::Closed(Command::Flush(_))) => Ok(()),
        }
    }

    /// Resolves once every line queued before this call is written and the
    /// writer flushed, with the flush's result.
    pub fn flush(&self) -> impl Future<Output = io::Result<()>> + 'static {
        let tx = self.tx.clone();
        async move {
            let (answer, answered) = oneshot::channel();
            let gone = || io::Error::other("the writer thread has ended");
            tx.send(Command::Flush(answer)).await.map_err(|_| gone())?;
            answered.await.map_err(|_| gone())?
        }
    }
}

/// Runs a write; a panic of the writer becomes an error, so the thread goes on.
fn shielded(f: impl FnOnce() -> io::Result<()>) -> Result<(), LineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(written) => Ok(written?),
        Err(panic) => Err(LineError::Panicked(
            panic_message(panic.as_ref()).to_owned(),
        )),
    }
}
