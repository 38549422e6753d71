"""Run plain-assert test modules under MicroPython, where pytest does not exist.

Usage: micropython mp_runner.py MODULE [MODULE ...]. Every ``test_*`` function of each
module is called; one line per test, then a summary line ``N passed, N failed``; the
exit status is 1 when anything failed or nothing ran.
"""

import gc
import sys


def run_module(name):
    module = __import__(name)
    passed = failed = 0
    for attr in sorted(dir(module)):
        if not attr.startswith("test_"):
            continue
        func = getattr(module, attr)
        gc.collect()  # each test starts from a collected heap, not the last test's garbage
        try:
            func()
        except Exception as exc:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAIL", name + "::" + attr)
            sys.print_exception(exc)
        else:
            passed += 1
            print("PASS", name + "::" + attr)
    return passed, failed


def main(names):
    passed = failed = 0
    for name in names:
        p, f = run_module(name)
        passed += p
        failed += f
    print("{} passed, {} failed".format(passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
