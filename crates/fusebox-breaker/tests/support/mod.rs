//! What several test files share.

use fusebox_breaker::Breaker;
use fusebox_core::{StateStore, StoredRef};
use std::sync::Mutex;

/// `breaker` as a shared state store sees it, caught the way a store is given it.
pub(crate) fn stored(breaker: &Breaker) -> StoredRef {
    #[derive(Default)]
    struct Catch(Mutex<Option<StoredRef>>);

    impl StateStore for Catch {
        fn attach(&self, circuit: &StoredRef) {
            *self.0.lock().unwrap() = Some(circuit.clone());
        }
    }

    let catch = Catch::default();
    breaker.share_with(&catch);
    catch.0.into_inner().unwrap().expect("share_with attaches")
}
