"""dcsim.progress.Steps: the named-step bar of inspect, simulate, energy and verilog."""
from __future__ import annotations

import io
import sys
import time

import pytest

from dcsim.progress import Steps


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_step_is_shown_with_its_name_and_redrawn_while_it_runs(monkeypatch):
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    with Steps("inspect", 2, delay=0.0, interval=0.05) as steps:
        with steps.step("read and check the archive"):
            time.sleep(0.3)
        with steps.step("encode fc for EIE"):
            pass
    text = err.getvalue()
    assert "inspect: read and check the archive (step 0/2 done)" in text
    assert text.count("inspect: read and check the archive (step 0/2 done)") >= 3   # the ticker redrew it
    assert "inspect: encode fc for EIE (step 1/2 done)" in text


def test_quiet_and_short_commands_show_nothing(monkeypatch):
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    with Steps("energy", 1, enabled=False) as steps:
        with steps.step("simulate"):
            pass
    with Steps("energy", 1, delay=30.0) as steps:        # done before the delay
        with steps.step("simulate"):
            pass
    assert err.getvalue() == ""


def test_off_a_terminal_there_is_no_ticker(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Steps("verilog", 1, delay=0.0, interval=0.02) as steps:
        with steps.step("write Verilog (Yosys)"):
            time.sleep(0.2)
        assert steps._thread is None
    assert err.getvalue().count("write Verilog (Yosys)") <= 2


def test_an_error_inside_a_step_propagates_and_closes_the_bar(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Tty())
    with pytest.raises(ValueError):
        with Steps("inspect", 1, delay=0.0, interval=0.01) as steps:
            with steps.step("read"):
                raise ValueError("bad")
    assert steps._stop.is_set() and not steps._thread.is_alive()


def test_storage_report_takes_one_step_per_layer(tmp_path):
    import contextlib

    from compress.model import load
    from compress.pipeline import storage_report
    from tests.dcsim.test_sim_cli import _archive

    names = []

    @contextlib.contextmanager
    def step(name):
        names.append(name)
        yield

    cm = load(_archive(tmp_path))
    storage_report(cm, step=step)
    assert names == [f"encode {l.name} for EIE" for l in cm.layers]
