//! How a layer's clones share their settings and state.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Weak};

/// A value every clone of a layer and its services shares: counted (freed with the last
/// handle), or static (alive for the rest of the process, so a clone copies a pointer and
/// touches no reference count). The static kind is for values built once at start-up, one per
/// dependency, and is what `build_static` on fusebox's builders makes.
///
/// ```
/// use fusebox_core::Handle;
///
/// let counted = Handle::counted(String::from("payments"));
/// let process_lifetime = Handle::leaked(String::from("calendar"));
/// assert_eq!(counted.len() + process_lifetime.len(), 16);
/// assert!(process_lifetime.is_static() && !counted.is_static());
/// ```
pub enum Handle<T: ?Sized + 'static> {
    /// Shared by reference count.
    Counted(Arc<T>),
    /// Never freed.
    Static(&'static T),
}

impl<T> Handle<T> {
    /// A reference-counted handle to `value`.
    pub fn counted(value: T) -> Self {
        Handle::Counted(Arc::new(value))
    }

    /// A handle to `value` that lives for the rest of the process: `value` is never freed, so
    /// make these once, not per request.
    pub fn leaked(value: T) -> Self {
        Handle::Static(Box::leak(Box::new(value)))
    }
}

impl<T: ?Sized> Handle<T> {
    /// Whether the value lives for the rest of the process.
    pub fn is_static(&self) -> bool {
        matches!(self, Handle::Static(_))
    }

    /// Whether this is the only handle to a counted value (always `false` for a static one).
    pub fn is_unique(&self) -> bool {
        match self {
            Handle::Counted(value) => Arc::strong_count(value) == 1,
            Handle::Static(_) => false,
        }
    }

    /// A handle that does not keep a counted value alive.
    pub fn downgrade(&self) -> WeakHandle<T> {
        match self {
            Handle::Counted(value) => WeakHandle::Counted(Arc::downgrade(value)),
            Handle::Static(value) => WeakHandle::Static(value),
        }
    }

    /// Whether both handles lead to the same value (not merely equal ones).
    pub fn ptr_eq(&self, other: &Handle<T>) -> bool {
        std::ptr::addr_eq(&**self as *const T, &**other as *const T)
    }
}

impl<T: ?Sized> Clone for Handle<T> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Handle::Counted(value) => Handle::Counted(Arc::clone(value)),
            Handle::Static(value) => Handle::Static(value),
        }
    }
}

impl<T: ?Sized> Deref for Handle<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Handle::Counted(value) => value,
            Handle::Static(value) => value,
        }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

/// A [`Handle`] that does not keep a counted value alive (a static one always upgrades).
pub enum WeakHandle<T: ?Sized + 'static> {
    /// Of a counted value.
    Counted(Weak<T>),
    /// Of a static value.
    Static(&'static T),
}

impl<T: ?Sized> WeakHandle<T> {
    /// The handle, if the value is still alive.
    pub fn upgrade(&self) -> Option<Handle<T>> {
        match self {
            WeakHandle::Counted(value) => value.upgrade().map(Handle::Counted),
            WeakHandle::Static(value) => Some(Handle::Static(value)),
        }
    }
}

impl<T: ?Sized> Clone for WeakHandle<T> {
    fn clone(&self) -> Self {
        match self {
            WeakHandle::Counted(value) => WeakHandle::Counted(Weak::clone(value)),
            WeakHandle::Static(value) => WeakHandle::Static(value),
        }
    }
}

impl<T: ?Sized> fmt::Debug for WeakHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeakHandle::Counted(_) => "WeakHandle::Counted",
            WeakHandle::Static(_) => "WeakHandle::Static",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_the_same_only_when_they_lead_to_one_value() {
        let counted = Handle::counted(5);
        assert!(counted.ptr_eq(&counted.clone()));
        assert!(!counted.ptr_eq(&Handle::counted(5)), "equal, not the same");
        let leaked = Handle::leaked(5);
        assert!(leaked.ptr_eq(&leaked.clone()));
        assert!(!leaked.ptr_eq(&counted));
    }

    #[test]
    fn weak_handles_follow_counted_values_and_always_reach_static_ones() {
        let counted = Handle::counted(5);
        let weak = counted.downgrade();
        assert!(counted.is_unique());
        assert_eq!(weak.upgrade().as_deref(), Some(&5));
        drop(counted);
        assert!(weak.upgrade().is_none());
        let leaked = Handle::leaked(7);
        assert!(!leaked.is_unique());
        let weak = leaked.downgrade();
        drop(leaked);
        assert_eq!(weak.upgrade().as_deref(), Some(&7));
    }
}
