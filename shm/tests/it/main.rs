//! Cross-process tests of forkwise-shm: each case runs in a forked process
//! of its own (see `forkwise_testkit`), and most fork more. Every region is
//! named with the pid, and the harness fails a case that leaves a file in
//! `/dev/shm`.

mod array;
mod crash;
mod data;
mod region;
mod support;
mod sysv;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        region::bad_magic_is_refused,
        region::other_layout_version_is_refused,
        region::wrong_kind_is_refused,
        region::unpublished_region_is_refused_after_a_wait,
        region::open_waits_for_a_live_creator,
        region::created_exclusively_with_mode_0600,
        region::full_dev_shm_is_an_error_at_creation,
        region::forked_child_never_removes_the_name,
        region::regions_are_shared_between_processes,
        data::original_store_scenarios,
        data::clear_empties_the_store_for_everyone,
        data::concurrent_readers_never_see_torn_values,
        data::key_order_after_removal,
        data::multi_key_update_inside_transaction,
        data::failed_or_panicking_transaction_rolls_back,
        data::reentrant_write_is_refused,
        data::full_store_is_an_error,
        data::eight_processes_update_to_exactly_80000,
        data::stale_cas_fails_fresh_cas_succeeds,
        data::wrong_type_is_a_decode_error,
        crash::killed_mid_update_is_recovered_within_100ms,
        crash::next_reader_recovers_a_dead_writer,
        crash::killed_insert_leaves_no_trace,
        crash::killed_after_commit_keeps_the_write,
        crash::killed_transaction_is_rolled_back_whole,
        crash::killed_recovery_is_recovered,
        crash::killed_array_writer_leaves_the_old_element,
        array::concurrent_fetch_add_across_fork,
        array::compare_exchange_claims_once,
        array::large_elements_are_never_torn,
        array::named_array_shared_by_name,
        sysv::store_in_a_segment_found_by_key,
        sysv::array_in_a_private_segment,
        sysv::mismatched_segments_are_refused,
    ]);
}
