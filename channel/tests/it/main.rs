//! Cross-process tests of forkwise-channel: each case runs in a forked
//! process of its own (see `forkwise_testkit`), and most fork more.

mod fds;
mod multi;
mod stream;
mod support;

use std::time::Duration;

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        stream::pair_works_both_ways_across_fork,
        stream::child_killed_mid_frame_gives_disconnected,
        stream::oversized_length_is_refused_before_any_allocation,
        stream::garbage_payload_is_a_decode_error_and_the_next_frame_arrives,
        stream::borrowed_receive_decodes_in_place_across_fork,
        stream::bytes_that_are_no_header_are_corrupt,
        stream::partial_frame_stays_buffered_across_try_and_timeout,
        stream::signal_storm_during_blocking_receive,
        stream::signal_storm_during_timed_receive,
        stream::nonblocking_send_commits_a_started_frame,
        stream::sender_credentials_name_the_child,
        stream::peer_credentials_of_a_connected_socket_name_the_child,
        stream::sockets_are_close_on_exec,
        fds::pipe_end_passes_and_the_receiver_reads_it,
        fds::too_many_fds_are_closed_and_the_next_frame_arrives,
        fds::plain_receive_closes_unexpected_fds,
        fds::default_channel_refuses_fds,
        multi::sixty_four_clients_every_message_once_fairly => Duration::from_secs(120),
        multi::a_thousand_clients => Duration::from_secs(120),
        multi::dead_client_is_reported_once_and_others_carry_on,
        multi::worker_sees_the_master_leave,
        multi::broadcast_reports_a_broken_client_and_reaches_the_rest,
        multi::bad_frame_from_a_client_is_an_event_and_the_client_stays,
        multi::timeouts_and_try_receive,
    ]);
}
