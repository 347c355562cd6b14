//! Cross-process tests of forkwise-lock: each case runs in a forked process
//! of its own (see `forkwise_testkit`), and most fork more.

mod file_lock;
mod pidfile;
mod range_lock;
mod shell;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        file_lock::exclusion_between_processes,
        file_lock::shared_holders_together_exclude_a_writer,
        file_lock::killed_holder_releases_at_once,
        file_lock::signal_storm_during_blocking_acquire,
        file_lock::signal_storm_during_timed_acquire,
        file_lock::timeout_is_honoured,
        file_lock::timed_acquire_takes_a_released_lock,
        file_lock::child_dropping_inherited_guard_keeps_parent_lock,
        file_lock::explicit_release,
        file_lock::missing_directory_is_named,
        file_lock::files_are_close_on_exec,
        shell::our_lock_excludes_flock_command,
        shell::flock_command_holder_excludes_us,
        range_lock::disjoint_ranges_coexist_overlapping_exclude,
        range_lock::shared_ranges_share,
        range_lock::killed_holder_releases_range,
        range_lock::signal_storm_during_blocking_range_acquire,
        range_lock::ranges_exclude_within_one_process,
        range_lock::classic_fcntl_locks_interoperate,
        range_lock::invalid_range_is_refused,
        pidfile::second_instance_is_refused_with_the_pid,
        pidfile::stale_pidfile_is_taken_over,
        pidfile::symlink_is_refused,
        pidfile::forked_child_does_not_remove_parent_pidfile,
        pidfile::missing_directory_is_named,
    ]);
}
