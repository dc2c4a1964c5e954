"""Which images a redelivered chunk suspects or fails, from the steps its last delivery saved
(pure logic; the death of a real worker is in tests/faults)."""

from labeler.worker.redelivery import Steps


def test_a_first_redelivery_suspects_nothing_and_labels_in_batches():
    steps = Steps.after_death(None)
    assert (steps.suspects, steps.condemned) == (set(), set())
    assert steps.plan(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_the_batch_in_hand_at_a_death_is_labelled_one_image_at_a_time_first():
    steps = Steps.after_death({"step": [4, 5, 6, 7], "suspects": [], "condemned": []})
    assert steps.suspects == {4, 5, 6, 7} and steps.condemned == set()
    assert steps.plan([4, 5, 6, 7, 8, 9, 10], 4) == [[4], [5], [6], [7], [8, 9, 10]]


def test_an_image_in_hand_alone_at_a_death_is_condemned_and_no_longer_suspected():
    saved = Steps(step=[6], suspects={4, 5, 6, 7}).as_saved()
    steps = Steps.after_death(saved)
    assert steps.condemned == {6} and steps.suspects == {4, 5, 7}


def test_a_clean_end_saves_no_step_so_the_next_delivery_condemns_nothing_new():
    steps = Steps.after_death({"step": [], "suspects": [1], "condemned": [2]})
    assert (steps.suspects, steps.condemned) == ({1}, {2})
