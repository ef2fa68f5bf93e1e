"""The Grafana dashboard over costpipe's InfluxDB data, built as code.

:mod:`.queries` holds every panel's InfluxQL (one place, tested against a real
influxd), :mod:`.dashboard` assembles the dashboard with grafana-foundation-sdk,
and ``python -m costpipe.export.grafana`` writes ``dashboards/grafana/costpipe.json``.
"""
