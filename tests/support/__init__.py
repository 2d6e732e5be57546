"""The test-support layer: helpers and fixtures shared by test modules (no tests here).

Test modules import helpers from here (and ``tests.builders``), never from each other or from a
conftest; the fixtures are loaded for every test directory by ``pytest_plugins`` in
``tests/conftest.py``:

- ``chdb``: the process's one embedded ClickHouse path (``chdb_dsn``), the ``ch`` fixture
  (a fresh database with the schema), ``make_report`` and ``count``;
- ``kafka``: the broker (``kafka_url``, ``own_broker``/``Broker``), unique ``stream_names``,
  ``read_topic`` and ``final_records``;
- ``worker``: worker subprocesses (``start_worker``, ``worker_argv`` over the project's one
  launcher ``streams.cli.commands.worker.command_line``), ``wait_url``, ``signal_and_time``,
  ``sink_stalls`` (the sink's retries, counted from its log);
- ``faults``: workloads, the exactly-once oracle, consumer-group offsets and ``wait_for``.
"""
