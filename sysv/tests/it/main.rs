//! Cross-process tests of forkwise-sysv: each case runs in a forked process
//! of its own (see `forkwise_testkit`), and most fork more. Every case
//! removes what it creates, also when an assertion fails (handles opened
//! with `remove_on_drop`); the harness fails a case that leaves a SysV
//! object behind.

mod ipcs;
mod mutex;
mod queue;
mod segment;
mod semaphore;
mod support;

use std::time::Duration;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        semaphore::never_more_than_max_holders,
        semaphore::killed_holder_gives_its_unit_back,
        semaphore::undo_is_not_inherited_across_fork,
        semaphore::openers_never_see_an_uninitialised_set => Duration::from_secs(120),
        semaphore::openers_wait_for_a_slow_creator,
        semaphore::mismatched_sets_are_refused,
        semaphore::exclusive_and_create_false,
        semaphore::signal_storm_during_blocking_acquire,
        semaphore::signal_storm_during_timed_acquire,
        semaphore::timeout_is_honoured,
        semaphore::removed_set_wakes_blocked_acquirer,
        semaphore::waiters_counts_blocked_processes,
        semaphore::forked_child_never_removes_the_parents_set,
        mutex::exclusion_between_processes,
        mutex::killed_holder_unlocks,
        mutex::lock_timeout_and_unlock,
        queue::selectors_pick_by_type,
        queue::many_producers_many_consumers_exactly_once => Duration::from_secs(120),
        queue::removed_queue_wakes_blocked_receiver,
        queue::signal_storm_during_blocking_receive_and_send,
        queue::oversized_message_is_refused,
        queue::try_forms_never_block,
        queue::typed_messages_are_postcard_text,
        segment::atomic_counter_across_processes,
        segment::bytes_cross_processes,
        segment::bounds_sizes_and_alignment_are_checked,
        segment::attachments_are_counted_and_children_never_remove,
        ipcs::ipcs_lists_objects_with_their_mode,
        ipcs::ipcrm_is_reported_clearly,
    ]);
}
