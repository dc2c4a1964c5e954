"""The benchmark's correction for CPU time a hypervisor gave to other guests."""

from labeler.bench.stolen import stolen_seconds, unstolen_rate


def test_nothing_stolen_is_the_wall_rate():
    assert unstolen_rate(1000, 2.0, 0.0, cores=2) == 500.0


def test_stolen_time_is_taken_off_the_cpu_seconds_given():
    # 2 s on 2 cores is 4 CPU seconds; 1 of them stolen leaves 3 for 1,000 images.
    assert unstolen_rate(1000, 2.0, 1.0, cores=2) == 1000 * 2 / 3


def test_no_figure_without_a_count_or_with_all_of_it_stolen():
    assert unstolen_rate(1000, 2.0, None, cores=2) is None
    assert unstolen_rate(1000, 2.0, 4.0, cores=2) is None


def test_linux_counts_stolen_time_and_it_only_grows():
    first = stolen_seconds()
    assert first is not None and first >= 0
    assert stolen_seconds() >= first
