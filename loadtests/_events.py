"""Locust event listeners: options, settings, sample shipping to the master, summary, SLO exit.

Imported once per process by ``users.py``; ``sys.modules`` caching keeps registration single.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import sys
import time
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from ._arrivals import ArrivalProcess, RateTimeline
from ._open_loop import OpenLoop, Share, SweepSteps, timeline_for
from ._options import add_arguments
from ._recorder import RECORDER, Batch
from ._report import write_report
from ._run_state import RUN
from ._settings import SETTINGS, from_options
from ._slo import check, parse_slo, request_objectives
from ._summary import DEFINITIONS, format_table, samples, view, write_summary
from ._timeline import series
from ._trace import trace_schedule
from ._user import LLMUser, discovered_model
from ._window import END_MESSAGE

log = logging.getLogger("inferno")
DEFAULT_USER_CLASS = "MixedUser"
SLO_EXIT_CODE = 3
SHARE_MESSAGE = "inferno_share"  # master -> each worker: its index, the worker count, the seed


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_: Any) -> None:
    add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    options = environment.parsed_options
    try:
        _apply_options(options)
    except (OSError, ValueError) as exc:
        log.error("inferno: %s", exc)
        sys.exit(2)
    RUN.is_worker = isinstance(runner, WorkerRunner)
    RUN.is_master = isinstance(runner, MasterRunner)
    RECORDER.buffer_only = RUN.is_worker
    if RUN.is_worker:
        runner.register_message(SHARE_MESSAGE, _on_share)
        runner.register_message(END_MESSAGE, _on_end_message)
        _cache_locust_defaults()
    _default_to_mix(environment, options)


def _cache_locust_defaults() -> None:
    """Compute Locust's default options once per worker process instead of once per option.

    On every spawn message a Locust 2.47 worker calls ``default_args_dict()`` for each option the
    master forwards, and each call builds and runs Locust's whole argument parser: the event loop
    stood still for about 0.6 s on a 2-core machine, which showed up as a false ITL spike in every
    open stream and made due arrivals late. The defaults cannot change within a process.
    """
    from locust import argument_parser

    if not hasattr(argument_parser.default_args_dict, "cache_info"):
        argument_parser.default_args_dict = functools.cache(argument_parser.default_args_dict)


def _on_share(msg: Any, **_: Any) -> None:
    # Arrives before the spawn message that starts the test (one ordered channel per worker).
    RUN.share = Share(**msg.data)


def _on_end_message(msg: Any, **_: Any) -> None:
    RECORDER.end_window(time.perf_counter())


def end_of_load(runner: Any) -> None:
    """The load window ends here: on this process, and (from a master) on every worker."""
    RECORDER.end_window(time.perf_counter())
    if not RUN.is_worker:
        if RECORDER.aggregate.stopped is None and RUN.is_master and runner is not None:
            runner.send_message(END_MESSAGE, None)
        RECORDER.aggregate.mark_stopped()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    # Before Locust stops the users, so that the streams it cuts off are credited to the window.
    end_of_load(environment.runner)


def _apply_options(options: Any) -> None:
    SETTINGS.__dict__.update(from_options(options).__dict__)
    RUN.slo = parse_slo(getattr(options, "slo", "") or "")
    RUN.summary_path = getattr(options, "summary", "") or ""
    RUN.report_dir = getattr(options, "report", "") or ""
    RUN.shape_name = getattr(options, "shape", "constant") or "constant"
    RECORDER.objectives = request_objectives(RUN.slo)
    LLMUser.network_timeout = SETTINGS.request_timeout
    LLMUser.concurrency = SETTINGS.max_in_flight if SETTINGS.open_loop else 10


def _default_to_mix(environment: Any, options: Any) -> None:
    """Run the weighted mix, not every class at once, when no user class is named."""
    if RUN.is_worker or options is None or getattr(options, "user_classes", None):
        return
    if getattr(options, "class_picker", False):
        return
    mix = [c for c in environment.user_classes if c.__name__ == DEFAULT_USER_CLASS]
    if mix and len(environment.user_classes) > 1:
        environment.user_classes[:] = mix


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    # Workers receive the master's custom arguments with each spawn message, and the web UI
    # can change them between runs: re-read them for every test.
    try:
        _apply_options(environment.parsed_options)
    except (OSError, ValueError) as exc:
        log.error("inferno: keeping the previous settings: %s", exc)
    RECORDER.window.reset()
    RECORDER.timeline.restart()
    if RUN.is_worker:
        RECORDER.batch = Batch()
    else:
        RECORDER.aggregate.reset()
        _share_the_run(environment)
    RUN.users_started = 0
    RUN.open_loop = None
    if SETTINGS.open_loop and not RUN.is_master:
        RUN.open_loop = _open_loop(environment.parsed_options)


def _share_the_run(environment: Any) -> None:
    """Pick the run's seed; on a master, tell each worker its part of the arrival schedule."""
    options = environment.parsed_options
    seed = SETTINGS.seed if SETTINGS.seed is not None else random.SystemRandom().randrange(2**31)
    run_time = float(getattr(options, "run_time", None) or 0) or None
    RUN.share = Share(0, 1, seed, run_time)
    runner = environment.runner
    if RUN.is_master:
        clients = runner.clients
        workers = sorted(
            clients.ready + clients.running + clients.spawning,
            key=lambda worker: runner.get_worker_index(worker.id),
        )
        for index, worker in enumerate(workers):
            share = Share(index, len(workers), seed, run_time)
            runner.send_message(SHARE_MESSAGE, share.as_message(), client_id=worker.id)


def _open_loop(options: Any) -> OpenLoop:
    steps = SweepSteps(
        start=SETTINGS.rate,
        step=float(getattr(options, "sweep_step", 0) or 0),
        step_time=float(getattr(options, "sweep_step_time", 15.0)),
    )
    share = RUN.share
    timeline = timeline_for(RUN.shape_name, SETTINGS.rate, share.run_time, steps)
    entries = None
    if share.count == 0:
        log.error("inferno: this worker joined after the test started; it sends no arrivals")
        share, timeline = Share(0, 1, share.seed), RateTimeline.constant(0.0)
        entries = iter(())
    elif SETTINGS.trace:
        entries = trace_schedule(SETTINGS.trace, SETTINGS.trace_speed, share.index, share.count)
    kind = "constant" if SETTINGS.trace else SETTINGS.arrival  # a trace is not drawn from it
    return OpenLoop(
        ArrivalProcess(kind, SETTINGS.burstiness),
        timeline,
        share,
        SETTINGS.max_in_flight,
        SETTINGS.late_after_s,
        entries,
    )


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    end_of_load(environment.runner)
    if RUN.open_loop is not None:
        RUN.open_loop.drain(0.0)  # users drained it on stop; nothing may outlive the test
    if RUN.is_worker:
        RUN.share = Share()  # the next test brings its own


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if RUN.is_worker:
        message = RECORDER.drain()
        message["model"] = SETTINGS.model or discovered_model()
        data["inferno"] = message


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    message = data.get("inferno")
    if message:
        RECORDER.aggregate.merge(message)


def build_summary(environment: Any) -> dict[str, Any]:
    agg = RECORDER.aggregate
    summary = view(agg.totals(), agg.metrics, agg.duration_s(), credit=agg.credit)
    shape = dict(RUN.shape_report) or {"name": RUN.shape_name}
    options = environment.parsed_options
    summary.update(
        {
            "host": getattr(environment, "host", None),
            "model": SETTINGS.model or discovered_model() or agg.model,
            "user_classes": [c.__name__ for c in environment.user_classes],
            "started_at": agg.started_wall,
            "shape": shape,
            "by_name": {name: c.as_dict() for name, c in sorted(agg.by_name.items())},
            "errors_by_reason": dict(agg.errors.most_common()),
            "worker_reports": agg.reports,
            "max_tokens": SETTINGS.max_tokens,
            "processes": getattr(options, "processes", None),
        }
    )
    _add_run_details(summary, agg)
    if RUN.slo:
        summary["slo"] = _slo_verdict(summary)
    return summary


def _add_run_details(summary: dict[str, Any], agg: Any) -> None:
    summary["seed"] = RUN.share.seed
    summary["definitions"] = DEFINITIONS
    summary["goodput"]["objectives"] = dict(RECORDER.objectives)
    if SETTINGS.open_loop:
        summary["arrivals"].update(
            {
                "process": SETTINGS.arrival,
                "burstiness": SETTINGS.burstiness if SETTINGS.arrival == "gamma" else None,
                "rate": SETTINGS.rate,
                "max_in_flight_per_process": SETTINGS.max_in_flight,
                "late_after_ms": SETTINGS.late_after_s * 1000.0,
            }
        )
    else:
        del summary["arrivals"]
    if agg.turns:
        summary["turns"] = {str(n): agg.turns[n].as_dict() for n in sorted(agg.turns)}
    summary["timeline"] = series(agg.timeline, RECORDER.end_of_load_s())
    summary["samples"] = samples(agg.metrics)


def _slo_verdict(summary: dict[str, Any]) -> dict[str, Any]:
    shape = summary["shape"]
    if shape.get("name") in ("sweep", "rate-sweep"):
        # A sweep breaks its objectives on purpose; the gate is whether any level met them.
        best = shape.get("saturation") or shape.get("knee")
        violations = [] if best else ["no sweep step met the objectives"]
        if not shape.get("steps"):
            violations = ["the sweep finished no step"]
    else:
        violations = check(RUN.slo, summary)
    return {"objectives": RUN.slo, "passed": not violations, "violations": violations}


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    if RUN.is_worker:
        return
    summary = build_summary(environment)
    if RUN.summary_path:
        write_summary(RUN.summary_path, summary)
    if RUN.report_dir:
        try:
            written = write_report(RUN.report_dir, summary)
            log.info("inferno: report written to %s", written)
        except Exception as exc:  # a chart that cannot be drawn must not cost the run its verdict
            log.error("inferno: no report: %s", exc)
    # A closed stdout (e.g. piped into head) must not lose the exit-code verdict.
    with contextlib.suppress(OSError):
        print(format_table(summary), flush=True)
    slo = summary.get("slo")
    if slo is not None:
        if slo["passed"]:
            environment.process_exit_code = 0
        else:
            log.error("SLO violated: %s", "; ".join(slo["violations"]))
            environment.process_exit_code = SLO_EXIT_CODE
