//! The boundary between the store and the database engine's panics.
//!
//! redb trusts the bytes of a file it believes was shut down cleanly: a damaged page can make it
//! index out of range or unwrap a `None` instead of returning an error. [`guarded`] runs such a
//! call under `catch_unwind` and turns a panic into [`StoreError::Corrupt`], naming the file and
//! what was being done. While a guarded call runs, the panic hook stays quiet for that thread (the
//! panic becomes the error's text, not a second message on stderr); every other panic goes to
//! the hook that was installed before.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use crate::error::StoreError;

thread_local! {
    /// Guarded calls running on this thread (they may nest).
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

static INSTALL_HOOK: Once = Once::new();

/// Wraps the panic hook installed so far once: quiet inside a guarded call, unchanged outside.
fn install_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `body`, which reads or opens the store at `path`; a panic inside it becomes
/// [`StoreError::Corrupt`] ("the database engine failed while `doing`: ...").
///
/// `body` must not leave shared state half-changed when it panics: every caller drops what it
/// was working on (a database handle, a transaction) with the panic.
pub(crate) fn guarded<T>(
    path: &Path,
    doing: &str,
    body: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    install_hook();
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
    outcome.unwrap_or_else(|payload| {
        Err(StoreError::corrupt(
            path,
            format!(
                "the database engine failed while {doing}: {}",
                panic_text(payload.as_ref())
            ),
        ))
    })
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_corrupt_error() {
        let path = Path::new("/h/store.redb");
        let err = guarded::<()>(path, "reading the intents", || {
            panic!("range end index 5452 out of range for slice of length 4096")
        })
        .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("/h/store.redb"), "{text}");
        assert!(text.contains("while reading the intents"), "{text}");
        assert!(text.contains("out of range"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        // The guard is left: a value passes through unchanged.
        assert_eq!(guarded(path, "x", || Ok(7)).unwrap(), 7);
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
