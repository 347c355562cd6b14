//! Cross-process tests of forkwise-fork: each case runs in a forked,
//! single-threaded process of its own (see `forkwise_testkit`), which fails
//! if the case leaves a process, a zombie or a descriptor behind.

mod basics;
mod daemon;
mod output;
mod results;
mod shutdown;
mod supervise;
mod support;
mod title;
mod wait;
mod zombies;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        basics::hundred_workers_are_reaped_with_their_codes,
        basics::return_values_become_exit_codes,
        basics::a_worker_runs_none_of_the_masters_code_or_destructors,
        basics::a_worker_knows_its_index_pid_and_master,
        basics::zero_workers_are_refused,
        basics::only_the_master_uses_the_manager,
        basics::a_worker_can_manage_workers_of_its_own,
        basics::a_threaded_process_is_refused_unless_opted_in,
        basics::a_failed_fork_ends_the_workers_already_started,
        basics::a_failed_first_fork_leaves_nothing,
        wait::wait_for_one_worker_of_a_group,
        wait::try_wait_never_blocks,
        wait::wait_timeout_gives_up_on_time,
        wait::unknown_workers_are_refused,
        wait::callbacks_run_in_the_master_once_per_end,
        wait::kill_one_worker_of_a_group,
        wait::a_worker_killed_by_a_fault_signal_is_reported,
        wait::a_core_dump_is_reported,
        wait::waiting_survives_a_signal_storm,
        wait::a_worker_reaped_elsewhere_is_lost_not_hung,
        wait::other_children_are_left_alone,
        output::lines_are_delivered_per_worker_and_stream,
        output::a_worker_writing_ten_mib_is_drained,
        output::output_is_drained_while_waiting_for_another_worker,
        output::long_lines_come_in_pieces,
        output::programs_run_by_a_worker_are_captured_too,
        output::output_goes_to_the_log_with_index_and_pid,
        results::results_come_back_typed,
        results::a_killed_worker_gives_an_error_not_a_hang,
        results::a_panicking_worker_gives_its_exit_status,
        results::captured_output_flows_while_joining,
        supervise::a_failing_worker_is_restarted_with_a_new_pid,
        supervise::a_killed_worker_is_restarted,
        supervise::a_clean_exit_is_not_restarted,
        supervise::always_restarts_clean_exits_up_to_the_limit,
        supervise::a_restart_policy_gives_up,
        supervise::restarts_back_off,
        supervise::a_stopped_worker_is_not_restarted,
        supervise::nothing_restarts_during_shutdown,
        shutdown::sigterm_shuts_down_cleanly,
        shutdown::the_grace_period_ends_with_sigkill,
        shutdown::a_second_signal_escalates_at_once,
        shutdown::shutdown_can_be_called,
        shutdown::shutdown_signals_are_configurable,
        shutdown::ends_are_seen_through_pidfds_or_else_sigchld,
        shutdown::a_worker_starts_without_the_masters_signals,
        title::a_worker_title_shows_in_proc_and_ps,
        title::a_long_title_is_truncated_not_overflowed,
        title::without_the_capability_the_argv_area_is_used,
        title::a_threaded_process_cannot_overwrite_argv,
        title::a_nul_in_a_title_is_refused,
        daemon::a_daemon_is_found_signalled_and_gone,
        daemon::a_second_daemon_is_refused,
        daemon::a_failed_daemon_reports_the_step,
        daemon::detach_runs_a_program_in_its_own_session,
        daemon::detach_reports_a_missing_program,
        daemon::adopt_refuses_strangers,
        zombies::no_zombie_after_waiting,
        zombies::drop_terminates_and_reaps,
        zombies::drop_kills_after_the_grace_period,
        zombies::drop_policy_kill_is_immediate,
        zombies::drop_policy_wait_lets_workers_finish,
    ]);
}
