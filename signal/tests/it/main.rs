//! Cross-process tests of forkwise-signal: each case runs in a forked process
//! of its own (see `forkwise_testkit`), so each starts with every signal at
//! its default disposition and can install handlers freely.

mod delivery;
mod disposition;
mod fork;
mod stack;
mod support;
mod trap;
mod wait;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        stack::newest_first_until_stop,
        stack::stack_spans_handlers_by_time_of_adding,
        stack::stacks_are_per_signal,
        stack::guard_removes_on_drop,
        stack::listeners_change_the_stack_while_dispatched,
        stack::removal_from_a_changed_stack_skips_the_listener,
        stack::arrivals_between_dispatches_are_counted,
        stack::nested_dispatch_runs_nothing,
        stack::panicking_listener_loses_nothing,
        stack::concurrent_senders,
        delivery::sender_is_the_child,
        delivery::ten_thousand_realtime_signals_are_all_counted,
        delivery::sending_to_a_dead_process_is_a_clear_error,
        delivery::send_group_reaches_the_group,
        trap::trap_ends_a_child_loop_on_sigterm,
        trap::trap_remembers_the_first_signal_until_reset,
        trap::trap_lets_the_signal_bubble,
        trap::trap_wait_returns_with_the_signal,
        trap::trap_with_a_forbidden_signal_is_refused_whole,
        wait::wait_times_out_on_time,
        wait::wait_returns_early_when_a_signal_comes,
        wait::wait_survives_a_signal_storm,
        wait::wait_keeps_its_deadline_after_an_interruption,
        wait::wake_fd_becomes_readable,
        wait::wake_pipe_is_cloexec_and_closed_with_the_last_handler,
        wait::background_dispatcher_runs_listeners,
        wait::background_dispatcher_reports_a_listener_panic,
        fork::child_signal_never_reaches_parent_listeners,
        fork::child_does_not_inherit_pending_signals,
        fork::raw_fork_runs_the_hook,
        fork::signal_before_the_child_uses_its_pipe_wakes_the_child,
        fork::child_abandons_inherited_listeners_without_dropping_them,
        fork::signals_are_blocked_until_the_child_has_its_pipe,
        fork::each_fork_restores_the_mask_it_found,
        disposition::removing_the_last_listener_restores_the_default,
        disposition::ignored_signal_is_ignored_again_after,
        disposition::uncatchable_and_fault_signals_are_refused,
        disposition::foreign_handler_is_chained_then_restored,
        disposition::handler_installed_over_ours_is_left_in_place,
        disposition::os_handler_preserves_errno,
    ]);
}
