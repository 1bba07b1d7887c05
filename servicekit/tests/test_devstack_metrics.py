"""`make run`'s metrics (servicekit.devstack.launcher): a port per worker, in the banner;
traces only when the endpoint is set."""

import socket

from servicekit.devstack import launcher


def workers(env):
    return [p for p in launcher.stack_processes(env) if p.name.startswith("worker-")]


def test_each_worker_gets_its_own_metrics_port_and_the_banner_lists_every_metrics_url():
    processes = launcher.stack_processes({})
    ports = [p.env["METRICS_PORT"] for p in processes if p.name.startswith("worker-")]
    assert len(ports) == len(set(ports)) == len([s for s in launcher.SERVICES if s.relay or s.consumer])
    urls = launcher.metrics_urls(processes)
    assert set(urls) == {p.name for p in processes if p.service is not None}
    text = launcher.banner({}, 1.0, len(processes), urls)
    assert all(url in text for url in urls.values())
    assert "Traces are exported" not in text
    assert "Traces are exported over OTLP to http://127.0.0.1:4318" in launcher.banner(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, 1.0, len(processes), urls
    )


def test_a_taken_metrics_port_is_replaced_by_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (first, *_) = [s for s in launcher.SERVICES if s.relay or s.consumer]
        chosen = launcher.worker_metrics_port(first, {f"{first.short.upper()}_METRICS_PORT": str(port)})
        assert chosen != port and chosen > 0


def test_metrics_enabled_false_gives_the_workers_no_metrics_port():
    assert all("METRICS_PORT" not in p.env for p in workers({"METRICS_ENABLED": "False"}))
    assert launcher.metrics_urls(launcher.stack_processes({"METRICS_ENABLED": "False"})) == {}
