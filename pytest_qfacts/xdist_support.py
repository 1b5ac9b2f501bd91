"""pytest-xdist: one run id for all workers, and the workers' results gathered on the controller.

Each worker has its own ``QFactsSession`` (so each loads each model once, on its own
device with ``--qfacts-devices``). At the end a worker puts its runs, as JSON report
entries, into ``workeroutput``; the controller collects them when the node goes down
and merges them (``report.json_report.merge_runs``) for the summary and the reports.
Registered only when xdist is active; nothing here imports xdist.
"""
from __future__ import annotations

import json

WORKER_KEY = "qfacts_runs"


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def worker_id(config) -> str | None:
    return config.workerinput.get("workerid") if is_worker(config) else None


class XdistHooks:
    def __init__(self, session):
        self.session = session

    def pytest_configure_node(self, node):
        node.workerinput["qfacts_run_id"] = self.session.settings.run_id

    def pytest_testnodedown(self, node, error):
        text = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if text:
            self.session.worker_runs.extend(json.loads(text))


def send_to_controller(config, session) -> None:
    """On a worker: hand this worker's runs to the controller."""
    from pytest_qfacts.report.json_report import build_report

    runs = build_report(session.runs, session.gates)["runs"]
    for run in runs:
        run["worker"] = worker_id(config)
    config.workeroutput[WORKER_KEY] = json.dumps(runs)
