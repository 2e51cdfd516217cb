//! The kueue layer with a model's placement: its pool replaced by one placing on a
//! shared cluster (`sched/pool.rs`). Kept apart from `kueue.rs` so that Kueue's
//! admission logic and the choice of placement change independently.

use super::Kueue;
use crate::sched::pool::Pool;

impl Kueue {
    /// Places through `pool` from now on; called before any offer.
    pub(crate) fn replace_pool(&mut self, pool: Pool) {
        self.pool = pool;
    }
}
