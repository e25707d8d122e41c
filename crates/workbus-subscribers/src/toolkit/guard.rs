//! The one panic guard: what turns a panic in a handler into a counted,
//! logged stop that actix's `Supervisor` restarts.
//!
//! A panic does not stop an actor: it unwinds through the arbiter's task and
//! takes the actor (and its mailbox) with it. So every built-in subscriber,
//! and the NATS publisher, runs the body of its handlers inside [`guard`].

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;

/// Runs `f`; if it panics, logs the panic with its message, calls
/// `on_panic` (to count it), and stops the actor so that its supervisor
/// restarts it. Returns `None` after a panic.
///
/// # Examples
///
/// ```
/// use actix::prelude::*;
/// use workbus_subscribers::toolkit::guard;
///
/// struct Fragile;
/// impl Actor for Fragile { type Context = Context<Self>; }
///
/// #[derive(Message)]
/// #[rtype(result = "Option<u32>")]
/// struct Divide(u32);
///
/// impl Handler<Divide> for Fragile {
///     type Result = Option<u32>;
///     fn handle(&mut self, Divide(by): Divide, ctx: &mut Context<Self>) -> Option<u32> {
///         guard(ctx, "fragile", || {}, || 12u32.checked_div(by).expect("not by zero"))
///     }
/// }
///
/// actix::System::new().block_on(async {
///     let addr = Fragile.start();
///     assert_eq!(addr.send(Divide(4)).await.unwrap(), Some(3));
///     assert_eq!(addr.send(Divide(0)).await.unwrap(), None);
/// });
/// ```
pub fn guard<A, R>(
    ctx: &mut Context<A>,
    subscriber: &str,
    on_panic: impl FnOnce(),
    f: impl FnOnce() -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(panic) => {
            tracing::error!(
                subscriber,
                panic = panic_message(panic.as_ref()),
                "subscriber panicked: what it was handling is lost, restarting it"
            );
            on_panic();
            ctx.stop();
            None
        }
    }
}

/// The text of a panic payload, when it has one.
pub fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(not a string)"
    }
}
