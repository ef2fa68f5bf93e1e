"""``[[sinks.influxdb]]``, split as data flows through it.

* :mod:`.config`: the options model (pure);
* :mod:`.encoder`: records to line protocol (pure);
* :mod:`.writer`: the sink: requests, retries, dead letters (IO);
* :mod:`.reader`: the query layer in InfluxQL (IO).
"""
