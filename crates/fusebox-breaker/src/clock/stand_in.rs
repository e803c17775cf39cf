//! The coarse clock under loom (`--cfg fusebox_loom`): the exact clock.

pub(crate) fn offset_now() -> u64 {
    super::Epoch::offset_now()
}
