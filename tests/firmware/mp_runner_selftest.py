"""A module with one passing and one failing test, to prove the MicroPython runner fails."""


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert 1 + 1 == 3
