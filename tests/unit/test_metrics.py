import numpy as np

from labeler.metrics import (
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    per_class_report,
    softmax,
)


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 10))
    true_t = 2.5
    probs = softmax(logits, true_t)
    labels = np.array([rng.choice(10, p=p) for p in probs])
    assert abs(fit_temperature(logits, labels) - true_t) < 0.15


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    conf = np.full(1000, 0.8)
    correct = np.arange(1000) < 800
    assert expected_calibration_error(conf, correct)[0] < 1e-9
    ece, table = expected_calibration_error(np.full(1000, 0.99), correct)
    assert abs(ece - 0.19) < 1e-6 and len(table) == 15


def test_confusion_and_per_class_report():
    labels = np.array([0, 0, 1, 1])
    predicted = np.array([0, 1, 1, 1])
    matrix = confusion_matrix(labels, predicted, 2)
    assert matrix.tolist() == [[1, 1], [0, 2]]
    report = per_class_report(matrix, ("a", "b"))
    assert report[0]["recall"] == 0.5 and report[1]["precision"] == 2 / 3
