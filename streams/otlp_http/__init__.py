"""OTLP on the wire (issue 12): what the worker's OTLP/HTTP receiver answers and writes to Kafka
(``receive``), and the spans that carry our signals back out (``export``). Pure: no sockets, no
Kafka; ``streams/worker/otlp_http.py`` does the I/O. See docs/otel.md, "Receiver" and "Exporter"."""
